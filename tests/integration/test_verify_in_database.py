"""`verify` with the link hashes computed by ClickHouse (sql_links.py) agrees with the Python
reference on every row, and a row it doubts is named by the reference code."""

from __future__ import annotations

from typing import Any

import pytest
from audit_layer_ledger.verify import verify_store
from audit_layer_samples.datasets import chain, load, varied_events
from audit_layer_samples.factories import make_event

pytestmark = pytest.mark.integration


def _summary(report: Any) -> list[tuple[Any, ...]]:
    return [(t.tenant_id, t.links, t.last_seq, t.head, t.frontier.root(),
             None if t.first_finding is None else (t.first_finding.problem, t.first_finding.seq))
            for t in sorted(report.tenants.values(), key=lambda t: t.tenant_id)]


def test_in_database_hashing_matches_the_reference_and_defers_to_it(store: Any) -> None:
    events = varied_events("acme", 600) + varied_events("beta", 200, seed=9)
    events += [make_event("acme", prompt="Ünïcødé ✓ 日本語 \n \"quoted\" \t", user_id=None, session_id=None,
                          duration_ms=None, input_tokens=None, confidence=1e-300, reason_codes=[],
                          metadata={"é": "1", "a": "2", "Z": '"x"'}, model_parameters={}),
               make_event("acme", output_tokens=2**40, duration_ms=0.0, confidence=0.0, metadata={})]
    load(store, chain(events))
    fast, reference = verify_store(store), verify_store(store, hash_in_database=False)
    assert fast.ok and _summary(fast) == _summary(reference)
    assert fast.links == 802

    db = store.database
    cases = {
        "response text altered": (f"ALTER TABLE {db}.events UPDATE response = 'approved' WHERE tenant_id = 'acme' "
                                  "AND seq = 300", ("content_mismatch", 300)),
        "a field altered": (f"ALTER TABLE {db}.events UPDATE risk_level = 'LOW' WHERE tenant_id = 'acme' "
                            "AND seq = 200", ("hash_mismatch", 200)),
    }
    for name, (mutation, expected) in cases.items():
        store.command(mutation + " SETTINGS mutations_sync = 2")
        fast = verify_store(store)
        [finding] = fast.findings
        assert (finding.tenant_id, finding.problem, finding.seq) == ("acme", *expected), name
        assert _summary(fast) == _summary(verify_store(store, hash_in_database=False)), name
        assert fast.tenants["beta"].first_finding is None and fast.tenants["beta"].links == 200
