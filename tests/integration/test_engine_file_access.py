"""The trust root is out of the engine's reach: through `audit-layer query`, SQL can neither read the signing
key nor plant a trusted public key, whether the CLI opens the embedded engine itself or reaches it through
the process that owns it."""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path

import pytest
from audit_layer_processors.signing import generate_key_file

pytestmark = pytest.mark.integration

ATTACKS = {
    "read the private key": "SELECT * FROM file('{key}', 'LineAsString')",
    "plant a public key": "INSERT INTO FUNCTION file('{planted}', 'LineAsString') SELECT '{fake}'",
    "a File table on the key": "CREATE TABLE audit.stolen (s String) ENGINE = File(LineAsString, '{key}')",
    "a dictionary with a FILE source": (
        "CREATE DICTIONARY audit.stolen_dict (n UInt64, s String) PRIMARY KEY n "
        "SOURCE(FILE(path '{key}' format 'TSV')) LAYOUT(FLAT()) LIFETIME(0)"),
    "url() out": "SELECT * FROM url('http://127.0.0.1:9/', 'LineAsString')",
    # chDB runs these on its client side, past the grants
    "INSERT FROM INFILE": "INSERT INTO audit.checkpoints (key_id) FROM INFILE '{key}' FORMAT LineAsString",
    "INTO OUTFILE": "SELECT '{fake}' INTO OUTFILE '{planted}' FORMAT TSVRaw",
    "lower-case infile": "insert into audit.checkpoints (key_id) from   infile '{key}' format LineAsString",
}


OWNER = """
import sys
from audit_layer_store.store import ClickHouseStore
store = ClickHouseStore(sys.argv[1], serve=True)
store.migrate()
print("ready", flush=True)
sys.stdin.read()
store.close()
"""


def _query(dsn: str, sql: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "audit_layer_cli.main", "query", "--dsn", dsn, sql],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("served", [False, True], ids=["cli-opens-the-engine", "through-the-owner"])
def test_sql_cannot_read_or_plant_keys(tmp_path: Path, served: bool) -> None:
    keys = tmp_path / "keys"
    signer = generate_key_file(keys / "checkpoint-ed25519.pem")
    secret_pem = (keys / "checkpoint-ed25519.pem").read_text()
    planted = keys / "attacker.pub"
    fake = base64.b64encode(bytes(32)).decode()
    dsn = f"chdb://{tmp_path / 'clickhouse'}"
    # the engine is opened by other processes only: this one already holds the test session's engine path
    owner = None
    if served:
        owner = subprocess.Popen([sys.executable, "-c", OWNER, dsn], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 text=True)
        assert owner.stdout is not None
        lines = [owner.stdout.readline().strip() for _ in range(1)]
        while lines[-1] != "ready" and len(lines) < 50 and owner.poll() is None:
            lines.append(owner.stdout.readline().strip())
        assert lines[-1] == "ready", lines
    else:
        migrated = subprocess.run([sys.executable, "-m", "audit_layer_cli.main", "migrate", "--dsn", dsn],
                                  capture_output=True, text=True, timeout=120)
        assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    try:
        # the engine still does what the pipeline needs
        ok = _query(dsn, "SELECT 40 + 2 AS answer")
        assert ok.returncode == 0 and "42" in ok.stdout, ok.stdout + ok.stderr
        for name, sql in ATTACKS.items():
            out = _query(dsn, sql.format(key=keys / "checkpoint-ed25519.pem", planted=planted, fake=fake))
            assert out.returncode != 0, (name, out.stdout)
            assert "privileges" in out.stdout + out.stderr or "ACCESS_DENIED" in out.stdout + out.stderr, name
            seed_line = secret_pem.splitlines()[1]
            assert seed_line not in out.stdout + out.stderr, name
        # nothing of the key reached the database either
        leaked = _query(dsn, "SELECT count() FROM audit.checkpoints WHERE key_id LIKE '%PRIVATE%' OR key_id = '" +
                        seed_line + "'")
        assert leaked.returncode == 0 and "│ 0 " in leaked.stdout, leaked.stdout
        assert not planted.exists()
        assert sorted(p.name for p in keys.iterdir()) == ["checkpoint-ed25519.pem", "checkpoint-ed25519.pub"]
        assert signer.public_raw == base64.b64decode((keys / "checkpoint-ed25519.pub").read_text())
    finally:
        if owner is not None:
            owner.communicate(timeout=60)
