"""Every example of producer/INTEGRATIONS.md (the receipt API of the integration guide, only its import prefix
changed) run as written in its own process, against a local stand-in for the providers' HTTP APIs and the
real broker; each receipt is then checked in ClickHouse, after the enricher, the sequencer and the sink."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from audit_layer_processors.topics_admin import ensure_topics
from audit_layer_schemas import Topics
from audit_layer_store.store import ClickHouseStore

from tests.conftest import PARTITIONS, REPO, SinkThread, Worker, wait_for_rows

pytestmark = pytest.mark.integration
EXAMPLES = re.findall(r"```python\n(.*?)```", (REPO / "producer" / "INTEGRATIONS.md").read_text(), re.S)
STORE = "from audit_layer_sdk import ReceiptStore\nstore = ReceiptStore()\n"
# what each example assumes from the page around it (before), and what exercises it (after)
AROUND: list[tuple[str, str]] = [
    ("", "from fastapi.testclient import TestClient\n"
         "@app.post('/v1/ai/decide')\ndef decide(body: dict) -> dict:\n    return {'decision': 'approved'}\n"
         "answer = TestClient(app).post('/v1/ai/decide', json={'application': 42},\n"
         "                              headers={'x-trace-id': 'req-77', 'x-session-id': 'sess-9'})\n"
         "assert answer.status_code == 200\nstore.flush(30)\n"),
    ("", "llm.invoke('Assess application 42 for the langchain example')\nstore.flush(30)\n"),
    (STORE, "store.flush(30)\n"),
    (STORE + "import openai\nopenai_client = openai.OpenAI()\n"
              "messages = [{'role': 'user', 'content': 'A completion made elsewhere'}]\n", "store.flush(30)\n"),
    (STORE, "store.flush(30)\n"),
    (STORE + "trace_id = 'trace-5'\nprompt_text = 'Refund order 5?'\nresponse_text = 'Refund approved.'\n",
     "store.flush(30)\n"),
]
# per example: a condition that finds its row, and what that row holds
EXPECTED: list[tuple[str, dict[str, Any]]] = [
    ("provider = 'http'", {"operation": "http.request", "action": "ALLOW", "trace_id": "req-77",
                           "session_id": "sess-9", "prompt_start": "POST /v1/ai/decide"}),
    ("position(prompt, 'langchain example') > 0", {"provider": "openai", "action": "ALLOW", "response": "Denied.",
                                                    "input_tokens": 8, "output_tokens": 2}),
    ("provider = 'openai' AND model = 'gpt-4o-mini' AND position(prompt, 'Hello') > 0",
     {"action": "ALLOW", "response": "Denied.", "input_tokens": 8, "output_tokens": 2}),
    ("position(prompt, 'made elsewhere') > 0", {"provider": "openai", "model": "gpt-4o-mini", "action": "ALLOW",
                                                "response": "Denied.", "input_tokens": 8}),
    ("provider = 'anthropic'", {"model": "claude-opus-4-7", "action": "ALLOW", "response": "See a doctor today.",
                                "input_tokens": 10, "output_tokens": 5}),
    ("trace_id = 'trace-5'", {"action": "ALLOW", "prompt_start": "Refund order 5?", "response": "Refund approved."}),
]


class Pipeline:
    def __init__(self, bootstrap: str, topics: Topics, store: ClickHouseStore, workers: list[Worker],
                 sink: SinkThread) -> None:
        self.bootstrap, self.topics, self.store, self.workers, self.sink = bootstrap, topics, store, workers, sink
        self.done = 0


@pytest.fixture(scope="module")
def pipeline(kafka_bootstrap: str, chdb_path: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    topics = Topics(f"t{uuid.uuid4().hex[:10]}.")
    ensure_topics(kafka_bootstrap, topics, partitions=PARTITIONS)
    store = ClickHouseStore(f"chdb://{chdb_path}", f"guide_{uuid.uuid4().hex[:8]}")
    store.migrate()
    logs = tmp_path_factory.mktemp("guide-workers")
    workers = [Worker("enricher", kafka_bootstrap, topics, logs), Worker("sequencer", kafka_bootstrap, topics, logs)]
    sink = SinkThread(kafka_bootstrap, topics, store)
    try:
        yield Pipeline(kafka_bootstrap, topics, store, workers, sink)
    finally:
        sink.stop()
        for worker in workers:
            worker.stop()
        store.command(f"DROP DATABASE IF EXISTS {store.database}")



def test_the_guide_has_every_integration_and_the_table_fits() -> None:
    assert len(EXAMPLES) == len(AROUND) == len(EXPECTED)
    text = "\n".join(EXAMPLES)
    for name in ("init_audit_config(", "ReceiptStore()", "integrations.fastapi import AuditMiddleware",
                 "integrations.langchain import AuditCallbackHandler", "AuditedOpenAI(store=store",
                 "emit_chat_completion_receipt(\n    store,", "AuditedAnthropic(store=store", "ReceiptCollector(",
                 'set_action("allow")', "collector.emit(store)", "collector.cleanup()"):
        assert name in text


def test_importing_the_integrations_package_loads_no_optional_package() -> None:
    probe = ("import sys, audit_layer_sdk.integrations, audit_layer_sdk.integrations.fastapi\n"
             "print(sorted(m for m in ('openai', 'anthropic', 'langchain_core', 'fastapi', 'starlette') "
             "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stdout + out.stderr


@pytest.mark.parametrize("index", range(len(EXAMPLES)))
def test_guide_example_runs_as_written_and_is_stored(index: int, pipeline: Pipeline, provider_url: str,
                                                     tmp_path: Path) -> None:
    env = {**os.environ, "OPENAI_API_KEY": "test", "OPENAI_BASE_URL": f"{provider_url}/v1",
           "ANTHROPIC_API_KEY": "test", "ANTHROPIC_BASE_URL": provider_url,
           "AUDIT_LAYER_BOOTSTRAP_SERVERS": pipeline.bootstrap, "AUDIT_LAYER_TOPIC_PREFIX": pipeline.topics.prefix,
           "AUDIT_LAYER_SPOOL_DIR": str(tmp_path / "spool")}
    before, after = AROUND[index]
    out = subprocess.run([sys.executable, "-c", before + EXAMPLES[index] + after], capture_output=True, text=True,
                         env=env, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    pipeline.done += 1
    store = pipeline.store
    assert wait_for_rows(store, pipeline.done, workers=pipeline.workers, sink=pipeline.sink) == pipeline.done
    where, expected = EXPECTED[index]
    rows = store.query(f"SELECT tenant_id, provider, operation, model, toString(action), trace_id, session_id, "
                       f"prompt, response, input_tokens, output_tokens, hash != '' FROM {store.database}.events "
                       f"WHERE {where}").result_rows
    assert len(rows) == 1, rows
    tenant, provider, operation, model, action, trace, session, prompt, response, tokens_in, tokens_out, hashed = \
        rows[0]
    found = {"provider": provider, "operation": operation, "model": model, "action": action, "trace_id": trace,
             "session_id": session, "response": response, "input_tokens": tokens_in, "output_tokens": tokens_out,
             "prompt_start": (prompt or "")[:len(expected.get("prompt_start", ""))]}
    assert tenant == "acme" and hashed
    assert {k: found[k] for k in expected} == expected
