"""Every Python example of producer/README.md, run as written in its own process, against a local
stand-in for the providers' HTTP APIs (a real socket on loopback) and the real broker."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from audit_layer_schemas import Topics

from tests.conftest import REPO
from tests.integration.test_sdk_openai import _read

pytestmark = pytest.mark.integration
EXAMPLES = re.findall(r"```python\n(.*?)```", (REPO / "producer" / "README.md").read_text(), re.S)


def test_the_readme_has_an_example_per_integration() -> None:
    text = "\n".join(EXAMPLES)
    for name in ("AuditOpenAI(", "AuditAnthropic(", "AuditCallbackHandler(", "AuditMiddleware", "AuditCollector(",
                 "responses.create(", "messages.stream("):
        assert name in text


@pytest.mark.parametrize("index", range(len(EXAMPLES)))
def test_readme_example_runs_as_written_and_is_recorded(index: int, provider_url: str, kafka_bootstrap: str,
                                                         topics: Topics, tmp_path: Path) -> None:
    env = {**os.environ, "OPENAI_API_KEY": "test", "OPENAI_BASE_URL": f"{provider_url}/v1",
           "ANTHROPIC_API_KEY": "test", "ANTHROPIC_BASE_URL": provider_url, "AUDIT_LAYER_ORG_ID": "acme-bank",
           "AUDIT_LAYER_BOOTSTRAP_SERVERS": kafka_bootstrap, "AUDIT_LAYER_TOPIC_PREFIX": topics.prefix,
           "AUDIT_LAYER_SPOOL_DIR": str(tmp_path / "spool")}
    out = subprocess.run([sys.executable, "-c", EXAMPLES[index]], capture_output=True, text=True, env=env,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    [(key, event)] = _read(kafka_bootstrap, topics.events, 1)
    assert key == b"acme-bank" and event["tenant_id"] == "acme-bank"
