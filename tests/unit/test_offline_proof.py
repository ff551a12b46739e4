"""The offline checker's own Avro reading: it must read a link exactly as the writer wrote it, with only the
schemas pinned in the file."""

from __future__ import annotations

import hashlib

import pytest
from audit_layer_ledger.offline_proof import PINNED_LINK_SCHEMAS, ProofInvalid, decode_link
from audit_layer_samples.factories import enriched_record, make_event
from audit_layer_schemas.chain import CONTENT_FIELDS, LinkEncoder
from audit_layer_schemas.codec import AvroCodec
from audit_layer_schemas.registry import ENRICHED_EVENT, default_registry


def test_every_enriched_event_version_is_pinned_and_nothing_else() -> None:
    registry = default_registry()
    versions = {fp.hex(): hashlib.sha256(entry.canonical_form.encode()).hexdigest()
                for fp, entry in registry._by_fingerprint.items() if entry.name == ENRICHED_EVENT}
    assert versions == PINNED_LINK_SCHEMAS


@pytest.mark.parametrize("overrides", [
    {},
    {"metadata": {"b": "2", "a": "Łukasz — €", "z": ""}, "model_parameters": {"temperature": "0.3"}},
    {"confidence": 0.1 + 0.2, "duration_ms": 1.197765999989997, "input_tokens": 2**40, "user_id": None},
    {"reason_codes": ["x"] * 300, "decision_outcome": "拒绝"},
])
def test_decoded_link_is_the_record_the_writer_hashed(overrides: dict[str, object]) -> None:
    encoder = LinkEncoder()
    record = enriched_record(make_event("acme", **overrides))
    link = encoder.link_bytes(record, 77)
    seq, decoded = decode_link(link, encoder.canonical_form)
    expected = AvroCodec(ENRICHED_EVENT).decode(b"\xc3\x01" + link[8:])
    assert seq == 77 and decoded == expected
    assert all(decoded["event"][f] is None for f in CONTENT_FIELDS)


def test_a_crafted_schema_with_the_same_fingerprint_is_refused() -> None:
    encoder = LinkEncoder()
    link = encoder.link_bytes(enriched_record(make_event("acme")), 1)
    relabelled = encoder.canonical_form.replace('"decision_outcome"', '"decision_outcomX"')
    with pytest.raises(ProofInvalid, match="not the pinned schema"):
        decode_link(link, relabelled)
    with pytest.raises(ProofInvalid, match="does not know"):
        decode_link(link[:8] + b"\x01" * 8 + link[16:], encoder.canonical_form)


def test_trailing_or_missing_bytes_are_refused() -> None:
    encoder = LinkEncoder()
    link = encoder.link_bytes(enriched_record(make_event("acme")), 1)
    with pytest.raises(ProofInvalid, match="more than one record"):
        decode_link(link + b"\x00", encoder.canonical_form)
    with pytest.raises(ProofInvalid, match="end before"):
        decode_link(link[:-3], encoder.canonical_form)
