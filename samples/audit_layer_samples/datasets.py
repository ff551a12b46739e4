"""A known data set of chained events, built by the real enricher and chain code, for the
analytics tests and benchmarks: every figure a report shows can be computed from it here."""

from __future__ import annotations

import random
import time
from typing import Any

from audit_layer_processors.chain_state import ChainBatch, DedupPolicy
from audit_layer_schemas.chain import LinkEncoder
from audit_layer_schemas.ids import uuid7
from audit_layer_store.rows import INSERT_COLUMNS, row_from_chained

from audit_layer_samples.factories import enriched_record, make_event

EVENT_COLUMNS = (*INSERT_COLUMNS, "retention_days", "legal_hold")
DECISIONS = [("loan_underwriting", "approved"), ("loan_underwriting", "denied"), ("triage", "urgent"),
             ("support_reply", "answered"), ("hiring", "rejected")]
MODELS = [("openai", "gpt-4o-mini"), ("anthropic", "claude-sonnet-4"), ("openai", "gpt-4.1")]


def varied_events(tenant: str, count: int, *, seed: int = 7, start_us: int | None = None,
                  users: int = 5) -> list[Any]:
    rng = random.Random(seed)
    now = start_us if start_us is not None else time.time_ns() // 1000 - count * 1000
    events = []
    for i in range(count):
        decision, outcome = DECISIONS[i % len(DECISIONS)]
        provider, model = MODELS[i % len(MODELS)]
        kind = i % 10
        overrides: dict[str, Any] = {
            "event_id": str(uuid7()), "timestamp_us": now + i * 1000, "user_id": f"u-{i % users}",
            "session_id": f"s-{i % 7}", "provider": provider, "model": model, "decision_type": decision,
            "decision_outcome": outcome, "duration_ms": float(rng.randint(50, 3000)),
            "input_tokens": rng.randint(10, 500), "output_tokens": rng.randint(5, 300),
        }
        if kind == 3:
            overrides.update(action="REJECT", reason_codes=["refusal"], finish_reason="refusal")
        elif kind == 5:
            overrides.update(action="REJECT", reason_codes=["content_filter"], finish_reason="content_filter")
        elif kind == 7:
            overrides.update(action="FAIL_RETRY", reason_codes=["rate_limited"], error_type="RateLimitError")
        if i % 6 == 0:
            overrides["prompt"] = f"Applicant jane.doe{i}@example.com asks about case {i}"
        if i % 4 == 0:
            overrides["metadata"] = {"human_reviewed_by": '"officer-1"'}
        events.append(make_event(tenant, **overrides))
    return events


def chain(events: list[Any], ingested_at_us: int | None = None) -> list[dict[str, Any]]:
    """Enrich (default policy) and chain per tenant, as the enricher and sequencer do; `ingested_at_us`: when
    the pipeline received them (default: the factories' recent RECEIVED_US)."""
    encoder = LinkEncoder()
    batch = ChainBatch({}, encoder, DedupPolicy(window=1))
    chained = []
    for event in events:
        record = enriched_record(event) if ingested_at_us is None else enriched_record(event, ingested_at_us)
        link = batch.link(record)
        assert link is not None
        chained.append({"event": record, "seq": link.seq, "prev_hash": link.prev_hash, "hash": link.hash,
                        "link_schema": encoder.schema_hex})
    return chained


def load(store: Any, chained: list[dict[str, Any]], *, columns: tuple[str, ...] = EVENT_COLUMNS) -> None:
    """Insert as the sink does: each row kept for its retention class's days (the default policy's)."""
    from audit_layer_governance.retention import default_retention

    retention = default_retention()
    rows = [row_from_chained(c, 0, i) + ([retention.days_for(c["event"]["compliance_tags"]), 0]
                                         if columns == EVENT_COLUMNS else [])
            for i, c in enumerate(chained)]
    store.insert("events", rows, columns)
