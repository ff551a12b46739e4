"""The silent-loss cases of issue 16 through the real Kafka publisher: each call is delivered to the topic,
cut, escaped or stringified, and flagged; none is dropped."""

from __future__ import annotations

import pytest
from audit_layer_schemas import Topics
from audit_layer_schemas.models import MAX_CONTENT_CHARS
from audit_layer_sdk import AuditCollector, AuditConfig, AuditPublisher

from tests.integration.test_sdk_openai import _read

pytestmark = pytest.mark.integration


def test_calls_that_cannot_be_stored_whole_are_delivered_in_part_and_flagged(kafka_bootstrap: str,
                                                                             topics: Topics) -> None:
    publisher = AuditPublisher(AuditConfig(bootstrap_servers=kafka_bootstrap, topic=topics.events, spool_dir=None))
    deep: object = "bottom"
    for _ in range(10_000):
        deep = {"d": deep}
    cases = {
        "long-context": lambda a: a.set_input("x" * (MAX_CONTENT_CHARS + 1000)),
        "lone-surrogate": lambda a: a.set_input("bad \ud800 text"),
        "bytes": lambda a: a.set_input(b"\xff\xfe raw bytes"),  # type: ignore[arg-type]
        "deep-metadata": lambda a: a.set_decision("loan", metadata={"deep": deep}),
        "lower-case-action": lambda a: a.set_action("allow"),
    }
    for user, fill in cases.items():
        audit = AuditCollector(publisher, tenant_id="acme-bank", user_id=user)
        fill(audit)
        assert audit.emit() is True
    assert publisher.flush(30) == 0
    snapshot = publisher.snapshot()
    assert (snapshot.emitted, snapshot.delivered, snapshot.errors, snapshot.dropped) == (5, 5, 0, 0)
    events = {e["user_id"]: e for _, e in _read(kafka_bootstrap, topics.events, len(cases))}
    assert set(events) == set(cases)
    assert "content_truncated" in events["long-context"]["reason_codes"]
    assert len(events["long-context"]["prompt"]) == MAX_CONTENT_CHARS
    assert events["lone-surrogate"]["prompt"] == "bad \\ud800 text"
    assert "content_stringified" in events["bytes"]["reason_codes"]
    assert "metadata_stringified" in events["deep-metadata"]["reason_codes"]
    assert events["lower-case-action"]["action"] == "ALLOW" and events["lower-case-action"]["reason_codes"] == []
