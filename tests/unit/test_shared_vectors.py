"""The shared test vectors (schemas/test-vectors) are current and agree with the Python codec; the
TypeScript SDK's tests check the same file."""

from __future__ import annotations

import importlib.util
import json

from audit_layer_schemas import AUDIT_EVENT, AvroCodec
from audit_layer_schemas.partition import murmur2, partition_for

from tests.conftest import REPO

VECTORS = REPO / "schemas" / "test-vectors" / "audit-events.json"


def _generator():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("make_test_vectors", REPO / "scripts" / "make_test_vectors.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_vectors_are_what_the_python_sdk_makes_now() -> None:
    assert VECTORS.read_text(encoding="utf-8") == _generator().render(), "run python scripts/make_test_vectors.py"


def test_vectors_decode_back_to_their_events() -> None:
    vectors = json.loads(VECTORS.read_text(encoding="utf-8"))
    codec = AvroCodec(AUDIT_EVENT)
    assert vectors["fingerprint_hex"] == codec.schema.fingerprint_hex
    for vector in vectors["events"]:
        assert codec.decode(bytes.fromhex(vector["avro_hex"])) == vector["event"], vector["name"]


def test_murmur2_matches_kafka_reference_values() -> None:
    # values from Kafka's own UtilsTest (Java), as signed ints there
    for key, expected in ((b"21", -973932308), (b"foobar", -790332482), (b"a-little-bit-long-string", -985981536),
                          (b"a-little-bit-longer-string", -1486304829),
                          (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971), (b"abc", 479470107)):
        assert murmur2(key) == expected & 0xFFFFFFFF
    assert partition_for(b"acme-bank", 1) == 0
