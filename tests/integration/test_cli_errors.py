"""The CLI against a real store: a wrong tenant, folder or address is an error that says what to do, never
an exit 0 about nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from audit_layer_samples.datasets import chain, load, varied_events
from audit_layer_store.store import ClickHouseStore

pytestmark = pytest.mark.integration


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "audit_layer_cli.main", *args], capture_output=True, text=True,
                          timeout=120)


def test_wrong_tenants_folders_and_addresses_are_named(store: Any, tmp_path: Path) -> None:
    load(store, chain(varied_events("acme", 20) + varied_events("globex", 5, seed=2)))
    served = ClickHouseStore(store.dsn, store.database, serve=True)  # the CLI reaches the engine through us
    at = ["--dsn", store.dsn, "--database", store.database]
    try:
        ok = _run("verify", *at, "--tenant", "acme", "--no-kafka-anchor")
        assert ok.returncode == 0, ok.stdout + ok.stderr
        for command in (["verify", *at, "--tenant", "no-such-tenant", "--no-kafka-anchor"],
                        ["report", "compliance-summary", *at, "--tenant", "no-such", "--from", "2026-01-01",
                         "--to", "2026-01-31"],
                        ["checkpoints", *at, "--tenant", "nosuch"],
                        ["consistency", *at, "--tenant", "nosuch", "1", "2"]):
            out = _run(*command)
            assert out.returncode == 2, (command, out.stdout, out.stderr)
            assert "no records of tenant" in out.stderr and "acme, globex" in out.stderr, out.stderr
        missing = _run("proof", *at, "00000000-0000-7000-8000-000000000000", "--out",
                       str(tmp_path / "no-folder" / "proof.json"))
        assert missing.returncode == 2 and "folder" in missing.stderr and "does not exist" in missing.stderr
        assert "Traceback" not in missing.stderr
    finally:
        served.close()
    nowhere = tmp_path / "never-stored"
    out = _run("verify", "--dsn", f"chdb://{nowhere}", "--no-kafka-anchor")
    assert out.returncode == 2 and "no embedded ClickHouse at" in out.stderr and not nowhere.exists()
    refused = _run("query", "--dsn", "http://127.0.0.1:1", "SELECT 1")
    assert refused.returncode == 2 and "connection refused" in refused.stderr
    assert "WARNING" not in refused.stderr and len(refused.stderr) < 300, refused.stderr
    version = _run("--version")
    assert version.returncode == 0 and version.stdout.startswith("audit-layer ")


def test_workers_and_the_dlq_tool_before_their_topics_say_to_create_them(kafka_bootstrap: str, tmp_path: Path) -> None:
    """Not a traceback and not a wait: the topics are missing (a leaderless topic would be waited for)."""
    kafka = ["--bootstrap-servers", kafka_bootstrap, "--topic-prefix", f"never-created-{tmp_path.name}."]
    assert _run("keys", "generate", "--key", str(tmp_path / "key.pem")).returncode == 0
    for command in (["sequencer", "--enrich", "--signing-key", str(tmp_path / "key.pem")],
                    ["sequencer", "--signing-key", str(tmp_path / "key.pem")],
                    ["enricher"],
                    ["sink", "--dsn", f"chdb://{tmp_path / 'engine'}"],
                    ["dlq", "list"]):
        out = _run(*command, *kafka)
        assert out.returncode == 2, (command, out.stdout, out.stderr)
        assert "does not exist; create the topics with `audit-layer topics`" in out.stderr, (command, out.stderr)
        assert "Traceback" not in out.stderr, (command, out.stderr)
