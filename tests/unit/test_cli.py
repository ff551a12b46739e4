import subprocess
import sys

import pytest

COMMANDS = ["topics", "enricher", "sequencer", "sink", "migrate", "verify", "query", "demo", "keys", "proof",
            "console", "dlq",
            "erase", "checkpoints", "consistency", "witness", "report", "hold", "api"]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "audit_layer_cli.main", *args], capture_output=True,
                          text=True, timeout=60)


def test_top_level_help_lists_every_command() -> None:
    out = _run("--help")
    assert out.returncode == 0
    for command in COMMANDS:
        assert command in out.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_every_subcommand_has_help(command: str) -> None:
    out = _run(command, "--help")
    assert out.returncode == 0 and "usage: audit-layer " + command in out.stdout


def test_wrong_flag_is_a_clear_error() -> None:
    out = _run("demo", "--events", "-3")
    assert out.returncode == 2 and "must be positive" in out.stderr
    out = _run("verify", "--no-such-flag")
    assert out.returncode == 2 and "unrecognized arguments" in out.stderr


def test_unreachable_kafka_says_what_to_do() -> None:
    out = _run("topics", "--bootstrap-servers", "127.0.0.1:1")
    assert out.returncode == 2 and "make kafka" in out.stderr


def test_report_and_query_arguments_are_checked_before_any_work(tmp_path: object) -> None:
    out = _run("report", "compliance-summary", "--tenant", "t", "--from", "2026-13-01", "--to", "2026-11-30")
    assert out.returncode == 2 and "is not a date; write YYYY-MM-DD" in out.stderr
    out = _run("report", "decision-audit", "x", "--format", "docx")
    assert out.returncode == 2 and "invalid choice: 'docx'" in out.stderr
    out = _run("query", "no_such_query", "--param", "tenant=t")
    assert out.returncode == 2 and "no named query 'no_such_query'" in out.stderr
    out = _run("query", "--list")
    assert out.returncode == 0 and "decisions_by_outcome" in out.stdout and "from_date Date" in out.stdout
    out = _run("hold", "set", "--tenant", "t", "--user", "u", "--session", "s", "--reason", "r")
    assert out.returncode == 2 and "not allowed with argument" in out.stderr


def test_keys_actions_and_their_errors(tmp_path: object) -> None:
    for action in ("create", "list", "revoke", "generate", "show"):
        out = _run("keys", action, "--help")
        assert out.returncode == 0 and f"audit-layer keys {action}" in out.stdout
    out = _run("keys", "create", "--tenant", "acme", "--scopes", "read,everything", "--dsn", f"chdb://{tmp_path}",
               "--bootstrap-servers", "127.0.0.1:1")
    assert out.returncode == 2 and "unknown scope everything" in out.stderr and "ingest, read" in out.stderr
    out = _run("api", "--workers", "0")
    assert out.returncode == 2 and "must be positive" in out.stderr
    out = _run("api", "--backend-timeout", "-1")
    assert out.returncode == 2 and "must be a positive number" in out.stderr
    out = _run("keys", "create", "--tenant", "acme", "--scopes", "read", "--rate-limit", "nan")
    assert out.returncode == 2 and "must be a positive number" in out.stderr


def test_log_lines_can_be_json() -> None:
    import json

    code = ("from audit_layer_cli.logs import configure; import logging; configure('INFO', 'json'); "
            "log = logging.getLogger('audit_layer.test'); log.warning('sink lag %d', 42)\n"
            "try:\n    1 / 0\nexcept ZeroDivisionError:\n    log.exception('failed')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    lines = [json.loads(line) for line in out.stderr.splitlines()]
    assert lines[0]["message"] == "sink lag 42" and lines[0]["level"] == "WARNING"
    assert lines[0]["logger"] == "audit_layer.test" and lines[0]["time"].endswith("Z")
    assert "ZeroDivisionError" in lines[1]["exception"]
    assert _run("--log-format", "xml", "verify").returncode == 2
