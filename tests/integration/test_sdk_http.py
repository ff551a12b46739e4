"""The SDK over the REST API (no Kafka on the application's side): the integration document's Python usage
run as written, and the spool of an API that is down replayed into that API, and no other, when it is up."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from audit_layer_schemas import Topics
from audit_layer_sdk import AuditCollector, AuditConfig, HttpPublisher

from tests.api_server import api_pipeline
from tests.conftest import REPO, wait_for_rows

pytestmark = pytest.mark.integration
SNIPPETS = REPO / "tests" / "seed_snippets"



def _env(api_url: str, token: str, provider_url: str, spool: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP_SERVERS", "AUDIT_LAYER_BOOTSTRAP_SERVERS")}
    return {**env, "AUDIT_LAYER_API_KEY": token, "AUDIT_LAYER_ORG_ID": "acme-bank", "AUDIT_LAYER_API_URL": api_url,
            "OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": f"{provider_url}/v1", "ANTHROPIC_API_KEY": "test",
            "ANTHROPIC_BASE_URL": provider_url, "AUDIT_LAYER_SPOOL_DIR": str(spool)}


def _rows(store: Any, where: str) -> list[dict[str, Any]]:
    names = ("user_id", "session_id", "provider", "model", "decision_type", "compliance_tags", "metadata", "response",
             "input_tokens", "prompt", "action")
    rows = store.query(f"SELECT {', '.join(names)} FROM {store.database}.events WHERE {where}").result_rows
    return [dict(zip(names, row, strict=True)) for row in rows]


def test_the_documents_python_usage_runs_as_written_over_the_api(kafka_bootstrap: str, topics: Topics, store: Any,
                                                                  tmp_path: Path, provider_url: str) -> None:
    with api_pipeline(kafka_bootstrap, topics, store, tmp_path, checkpoint_every=50) as api:
        env = _env(f"{api.url}/v1", api.key("acme-bank"), provider_url, tmp_path / "spool")
        for name in ("openai_usage.py", "anthropic_usage.py"):
            out = subprocess.run([sys.executable, str(SNIPPETS / name)], capture_output=True, text=True, env=env,
                                 timeout=120)
            assert out.returncode == 0, out.stderr[-3000:]
        assert wait_for_rows(store, 2, workers=api.workers, sink=api.sink) == 2
        [openai_row] = _rows(store, "provider = 'openai'")
        assert openai_row["user_id"] == "user_john_doe" and openai_row["session_id"] == "loan_application_12345"
        assert openai_row["model"] == "gpt-4-turbo" and openai_row["decision_type"] == "loan_underwriting"
        assert {"SOC2", "FCRA"} <= set(openai_row["compliance_tags"])
        assert openai_row["metadata"]["loan_amount"] == "50000"
        assert openai_row["metadata"]["applicant_id"] == '"APP-12345"'
        assert openai_row["response"] == "Denied." and openai_row["input_tokens"] == 8
        assert "Credit score 680" in openai_row["prompt"] and openai_row["action"] == "ALLOW"
        [anthropic_row] = _rows(store, "provider = 'anthropic'")
        assert anthropic_row["user_id"] == "user_123" and anthropic_row["decision_type"] == "diagnosis_assist"
        assert uuid.UUID(anthropic_row["session_id"])  # one made for the client, as the document does
        assert anthropic_row["response"] == "See a doctor today."


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_events_wait_in_the_spool_while_the_api_is_down_and_reach_it_once_when_it_is_up(
        kafka_bootstrap: str, topics: Topics, store: Any, tmp_path: Path) -> None:
    port = _free_port()
    config = AuditConfig(api_key="placeholder", org_id="acme-bank", api_url=f"http://127.0.0.1:{port}/v1",
                         spool_dir=str(tmp_path / "spool"), retry_count=1, timeout_seconds=1)
    down = HttpPublisher(config)
    for i in range(20):
        with AuditCollector(down, tenant_id="acme-bank", user_id=f"user-{i}") as audit:
            audit.set_input(f"question {i}")
    assert down.flush(5) == 20 and down.spooled_on_disk == 20
    down.close(1)  # the application stopped with the API still down: the spool is kept
    with api_pipeline(kafka_bootstrap, topics, store, tmp_path, checkpoint_every=50, port=port) as api:
        token = api.key("acme-bank")
        up = HttpPublisher(AuditConfig(api_key=token, org_id="acme-bank", api_url=f"http://127.0.0.1:{port}/v1",
                                       spool_dir=str(tmp_path / "spool")))
        # a spool is bound to its destination: another API URL's publisher leaves this one alone
        elsewhere = HttpPublisher(AuditConfig(api_key=token, org_id="acme-bank", api_url="http://127.0.0.1:1/v1",
                                              spool_dir=str(tmp_path / "spool")))
        deadline = time.monotonic() + 60
        while up.stats.snapshot().replayed < 20 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert up.stats.snapshot().replayed == 20 and elsewhere.stats.snapshot().replayed == 0
        assert wait_for_rows(store, 20, workers=api.workers, sink=api.sink) == 20
        time.sleep(2)
        [(count, users)] = store.query(f"SELECT count(), uniqExact(user_id) FROM {store.database}.events"
                                       ).result_rows
        assert (count, users) == (20, 20)
        elsewhere.close(1)
        up.close(5)
