"""A bounded, fsync'd on-disk spool for audit events that Kafka could not take.

Segment files of records `key length, value length (4 bytes each), key, value, CRC-32`,
appended in order and removed whole once replayed. A torn record at the end of the last
segment (a crash mid-write) is ignored on reading. Bounded in records and bytes; when full,
`SpoolFullPolicy` decides (new events are dropped and counted: an audit SDK must never block
or crash the application, and the oldest records are the ones an auditor most needs).
"""

from __future__ import annotations

import os
import struct
import threading
import zlib
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

_HEADER = struct.Struct(">II")
_CRC = struct.Struct(">I")
SEGMENT_RECORDS = 1000


class SpoolFullPolicy(StrEnum):
    DROP_NEWEST = "drop_newest"


@dataclass(frozen=True)
class SpoolLimits:
    max_records: int = 1_000_000
    max_bytes: int = 1024 * 1024 * 1024
    full_policy: SpoolFullPolicy = SpoolFullPolicy.DROP_NEWEST


def _encode(key: bytes, value: bytes) -> bytes:
    body = _HEADER.pack(len(key), len(value)) + key + value
    return body + _CRC.pack(zlib.crc32(body))


def read_segment(path: Path) -> list[tuple[bytes, bytes]]:
    data = path.read_bytes()
    records, pos = [], 0
    while pos + _HEADER.size <= len(data):
        klen, vlen = _HEADER.unpack_from(data, pos)
        end = pos + _HEADER.size + klen + vlen
        if end + _CRC.size > len(data):
            break  # torn tail
        (crc,) = _CRC.unpack_from(data, end)
        if zlib.crc32(data[pos:end]) != crc:
            break  # torn or corrupt tail: what follows cannot be trusted
        start = pos + _HEADER.size
        records.append((data[start:start + klen], data[start + klen:end]))
        pos = end + _CRC.size
    return records


class DiskSpool:
    def __init__(self, directory: Path, limits: SpoolLimits | None = None) -> None:
        self.directory = directory
        self.limits = limits or SpoolLimits()
        directory.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._segments = sorted(directory.glob("segment-*.log"))
        self.records = sum(len(read_segment(p)) for p in self._segments)
        self.bytes = sum(p.stat().st_size for p in self._segments)
        self._current_count = len(read_segment(self._segments[-1])) if self._segments else 0

    def _next_path(self) -> Path:
        last = int(self._segments[-1].stem.split("-")[1]) if self._segments else 0
        return self.directory / f"segment-{last + 1:012d}.log"

    def append_many(self, records: list[tuple[bytes, bytes]]) -> int:
        """Appends in order and fsyncs; returns how many fit within the limits (the rest are refused)."""
        accepted = 0
        with self._lock:
            handle = None
            try:
                for key, value in records:
                    blob = _encode(key, value)
                    if self.records + 1 > self.limits.max_records or self.bytes + len(blob) > self.limits.max_bytes:
                        break
                    if handle is None or self._current_count >= SEGMENT_RECORDS:
                        if handle is not None:
                            handle.flush()
                            os.fsync(handle.fileno())
                            handle.close()
                        if not self._segments or self._current_count >= SEGMENT_RECORDS:
                            self._segments.append(self._next_path())
                            self._current_count = 0
                        handle = open(self._segments[-1], "ab")  # noqa: SIM115
                    handle.write(blob)
                    self._current_count += 1
                    self.records += 1
                    self.bytes += len(blob)
                    accepted += 1
            finally:
                if handle is not None:
                    handle.flush()
                    os.fsync(handle.fileno())
                    handle.close()
                    _fsync_dir(self.directory)
        return accepted

    def oldest(self) -> tuple[Path, list[tuple[bytes, bytes]]] | None:
        with self._lock:
            if not self._segments:
                return None
            path = self._segments[0]
            if path == self._segments[-1]:
                self._current_count = SEGMENT_RECORDS  # seal it: new records go to a new segment
        return path, read_segment(path)

    def remove(self, path: Path, count: int) -> None:
        with self._lock:
            size = path.stat().st_size if path.exists() else 0
            path.unlink(missing_ok=True)
            _fsync_dir(self.directory)
            if path in self._segments:
                self._segments.remove(path)
            self.records -= count
            self.bytes -= size

    def __len__(self) -> int:
        return self.records


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
