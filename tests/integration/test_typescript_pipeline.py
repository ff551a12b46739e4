"""Events produced by the TypeScript SDK (in Node.js) go through the enricher, sequencer and sink
and verify in ClickHouse like the Python SDK's own."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from typing import Any

import pytest

from tests.conftest import REPO, verify, wait_for_rows

pytestmark = pytest.mark.integration
PACKAGE = REPO / "producer" / "typescript"


def test_typescript_events_flow_through_the_pipeline_and_verify(pipeline: dict[str, Any]) -> None:
    node = shutil.which("node")
    assert node is not None, "Node.js 20+ is needed for the TypeScript SDK"
    assert (PACKAGE / "dist" / "src" / "index.js").exists(), "build it first: make ts-build"
    topics, store = pipeline["topics"], pipeline["store"]
    env = {**os.environ, "AUDIT_LAYER_BOOTSTRAP_SERVERS": pipeline["bootstrap"],
           "AUDIT_LAYER_TOPIC_PREFIX": topics.prefix}
    out = subprocess.run([node, "scripts/produce-events.mjs", "300"], cwd=PACKAGE, env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {"produced": 300, "delivered": 300, "pending": 0}

    assert wait_for_rows(store, 300, workers=pipeline["workers"], sink=pipeline["sink"]) == 300
    rows = store.query("SELECT tenant_id, count(), uniqExact(seq), max(seq), "
                       "countIf(sdk_name = 'audit-layer-typescript') "
                       f"FROM {store.database}.events FINAL GROUP BY tenant_id ORDER BY tenant_id").result_rows
    assert [tuple(r) for r in rows] == [("acme-bank", 100, 100, 100, 100), ("globex-hr", 100, 100, 100, 100),
                                        ("mercy-clinic", 100, 100, 100, 100)]
    denied = store.query(f"SELECT compliance_tags FROM {store.database}.events FINAL "
                         "WHERE tenant_id = 'acme-bank' AND decision_outcome = 'denied' LIMIT 1").result_rows[0][0]
    assert "SOC2" in denied
    report = verify(store)
    assert report.ok, report.findings[:3]
