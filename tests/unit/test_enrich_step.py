"""The enricher's step, shared by both runtimes, without a broker."""

from __future__ import annotations

import pytest
from audit_layer_processors.dlq import DlqLimitExceeded, DlqPolicy
from audit_layer_processors.enrich_step import EnrichStep
from audit_layer_processors.policy import load_policy
from audit_layer_samples.factories import make_event
from audit_layer_schemas import AUDIT_EVENT, ENRICHED_EVENT, AvroCodec, Topics
from audit_layer_schemas.partition import partition_for

TOPICS = Topics("unit.")
PARTITIONS = 6


def step(dlq_max: int = 1000) -> EnrichStep:
    return EnrichStep(TOPICS, load_policy(), PARTITIONS, DlqPolicy(dlq_max, 60),
                      clock_us=lambda: 1_700_000_000_000_000)


def test_a_valid_event_is_enriched_to_its_tenants_partition_whatever_it_came_in_on() -> None:
    event = make_event("acme-bank", decision_type="loan_underwriting")
    home = partition_for(b"acme-bank", PARTITIONS)
    for arrived_on in range(PARTITIONS):  # e.g. sent with librdkafka's default (crc32) partitioner
        out = step()(b"acme-bank", AvroCodec(AUDIT_EVENT).encode(event.to_avro()), TOPICS.events, arrived_on, 41)
        assert (out.topic, out.key, out.partition, out.headers) == (TOPICS.enriched, b"acme-bank", home, None)
    assert out.value is not None
    record = AvroCodec(ENRICHED_EVENT).decode(out.value)
    assert record["event"]["event_id"] == event.event_id
    assert record["ingested_at_us"] == 1_700_000_000_000_000
    assert "FCRA" in record["compliance_tags"] and record["risk_reasons"]


def test_bad_input_is_dead_lettered_as_is_with_its_reason_and_source() -> None:
    s = step()
    out = s(b"acme-bank", b"not avro", TOPICS.events, 1, 7)
    assert (out.topic, out.key, out.value, out.partition) == (TOPICS.dlq, b"acme-bank", b"not avro", 1)
    headers = dict(out.headers or [])
    assert headers["dlq.reason"] == b"not_single_object_encoding"
    assert headers["dlq.source"] == f"{TOPICS.events}:1:7".encode()
    assert (s.counts.enriched, s.counts.dead_lettered) == (0, 1)


def test_past_the_dlq_limit_the_step_raises_instead_of_dead_lettering() -> None:
    s = step(dlq_max=3)
    for offset in range(3):
        s(b"t", b"junk", TOPICS.events, 0, offset)
    with pytest.raises(DlqLimitExceeded, match="--dlq-max"):
        s(b"t", b"junk", TOPICS.events, 0, 3)
    assert s.counts.dead_lettered == 3


def test_an_enricher_produces_the_same_message_without_the_link_body_a_sequencer_needs() -> None:
    from audit_layer_processors.enrich_step import Enriched
    from audit_layer_schemas.chain import LinkEncoder

    value = AvroCodec(AUDIT_EVENT).encode(make_event("acme-bank", prompt="SSN 123-45-6789").to_avro())
    chaining = step().process(b"acme-bank", value, TOPICS.events, 0, 1)
    enriching = EnrichStep(TOPICS, load_policy(), PARTITIONS, clock_us=lambda: 1_700_000_000_000_000,
                           link_bodies=False).process(b"acme-bank", value, TOPICS.events, 0, 1)
    assert isinstance(chaining, Enriched) and isinstance(enriching, Enriched)
    assert enriching.value == chaining.value and enriching.link_body is None
    links = LinkEncoder()
    assert chaining.link_body is not None
    prefix = (5).to_bytes(8, "big") + links.schema_fingerprint
    assert links.link_bytes(chaining.record, 5) == prefix + chaining.link_body
