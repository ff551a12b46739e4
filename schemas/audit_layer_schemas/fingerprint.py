"""CRC-64-AVRO, the fingerprint Avro's single-object encoding puts in every message header."""

from __future__ import annotations

_EMPTY = 0xC15D213AA4D7A795


def _table() -> list[int]:
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (_EMPTY & -(fp & 1))
        table.append(fp)
    return table


_TABLE = _table()


def crc64_avro(data: bytes) -> int:
    """The 64-bit Rabin fingerprint the Avro specification defines, as an unsigned int."""
    fp = _EMPTY
    for byte in data:
        fp = (fp >> 8) ^ _TABLE[(fp ^ byte) & 0xFF]
    return fp


def fingerprint_bytes(parsing_canonical_form: str) -> bytes:
    """The 8 header bytes: little-endian, as the specification and the Java implementation write them."""
    return crc64_avro(parsing_canonical_form.encode("utf-8")).to_bytes(8, "little")
