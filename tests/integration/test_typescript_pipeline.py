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


def test_the_documents_typescript_usage_reaches_clickhouse_through_the_api(kafka_bootstrap: str, topics: Any,
                                                                            store: Any, tmp_path: Any) -> None:
    from tests.api_server import api_pipeline

    node = shutil.which("node")
    assert node is not None, "Node.js 20+ is needed for the TypeScript SDK"
    with api_pipeline(kafka_bootstrap, topics, store, tmp_path, checkpoint_every=50) as api:
        env = {**os.environ, "AUDIT_LAYER_API_KEY": api.key("org_456"), "AUDIT_LAYER_ORG_ID": "org_456",
               "AUDIT_LAYER_API_URL": f"{api.url}/v1", "AUDIT_LAYER_SPOOL_DIR": str(tmp_path / "spool")}
        out = subprocess.run([node, "scripts/seed-usage.mjs"], cwd=PACKAGE, env=env, capture_output=True,
                             text=True, timeout=120)
        assert out.returncode == 0, out.stderr[-3000:]
        counters = json.loads(out.stdout.strip().splitlines()[-1])
        assert counters["answer"] == "Reset your password here."
        assert (counters["pending"], counters["delivered"], counters["errors"]) == (0, 2, 0), counters
        assert wait_for_rows(store, 2, workers=api.workers, sink=api.sink) == 2
        rows = store.query(f"SELECT user_id, decision_type, provider, model, input_tokens, output_tokens, prompt, "
                           f"response, compliance_tags, sdk_name FROM {store.database}.events "
                           "ORDER BY user_id").result_rows
    first, second = rows
    assert first[:6] == ("user_123", "support", "openai", "gpt-4", 12, 5)
    assert "reset my password" in first[6] and first[7] == '{"choices": [{"finish_reason": "stop", "index": 0, ' \
        '"message": {"content": "Reset your password here.", "role": "assistant"}}], "created": 1, "id": "c1", ' \
        '"model": "gpt-4", "object": "chat.completion", "usage": {"completion_tokens": 5, "prompt_tokens": 12, ' \
        '"total_tokens": 17}}'
    assert second[:6] == ("user_456", "support", "openai", "gpt-4", 12, 5)
    assert second[7] == "Reset your password here." and "SOC2" in second[8]
    assert first[9] == second[9] == "audit-layer-typescript"
