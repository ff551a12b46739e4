"""`query`, `report`, `verify` and `hold` from other processes while the sink writes into the
embedded engine: the owner serves it (engine_server.py), the commands are unchanged."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
import pytest
from audit_layer_samples.factories import make_event
from audit_layer_schemas import Topics
from audit_layer_sdk import AuditConfig, AuditPublisher
from audit_layer_store.engine_server import EngineServer, read_owner

from tests.conftest import KEY_DIR, SinkThread, Worker, verify, wait_for_rows

pytestmark = pytest.mark.integration


def _cli(*args: str, chdb_path: str, store: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "audit_layer_cli.main", *args, "--dsn", f"chdb://{chdb_path}",
                           "--database", store.database], capture_output=True, text=True, timeout=180)


def test_commands_read_and_write_through_the_process_that_owns_the_engine(
    kafka_bootstrap: str, topics: Topics, store: Any, chdb_path: str, tmp_path: Path
) -> None:
    workers = [Worker("enricher", kafka_bootstrap, topics, tmp_path),
               Worker("sequencer", kafka_bootstrap, topics, tmp_path, "--checkpoint-every", "50",
                      "--checkpoint-seconds", "1")]
    sink = SinkThread(kafka_bootstrap, topics, store)
    server = EngineServer(store, Path(chdb_path))
    server.start()
    publisher = AuditPublisher(AuditConfig(bootstrap_servers=kafka_bootstrap, topic=topics.events))
    stop = threading.Event()

    def keep_writing() -> None:  # the pipeline keeps loading while the commands run
        while not stop.is_set():
            publisher.publish(make_event("rw", user_id="u-2"))
            time.sleep(0.02)

    writer = threading.Thread(target=keep_writing, daemon=True)
    try:
        assert read_owner(Path(chdb_path)) is None  # this process is the owner; others see the file
        first = [make_event("rw") for _ in range(100)]
        for event in first:
            publisher.publish(event)
        assert publisher.flush(30) == 0
        assert wait_for_rows(store, 100, workers=workers, sink=sink) >= 100
        writer.start()
        deadline = time.monotonic() + 30
        while store.query(f"SELECT max(last_seq) FROM {store.database}.checkpoints").result_rows[0][0] < 100:
            assert time.monotonic() < deadline, "no checkpoint covered the first events"
            time.sleep(0.3)

        out = _cli("query", "SELECT count() AS n FROM events", "--json", chdb_path=chdb_path, store=store)
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["n"] >= 100

        today = dt.datetime.now(dt.UTC).date().isoformat()
        out = _cli("query", "decisions_by_outcome", "--param", "tenant=rw", "--param", f"from_date={today}",
                   "--param", f"to_date={today}", "--json", chdb_path=chdb_path, store=store)
        assert out.returncode == 0, out.stderr
        assert sum(json.loads(line)["decisions"] for line in out.stdout.splitlines()) >= 100

        out = _cli("report", "decision-audit", first[0].event_id, "--public-keys", str(KEY_DIR),
                   chdb_path=chdb_path, store=store)
        assert out.returncode == 0, out.stderr
        audit = json.loads(out.stdout)
        assert audit["chain"]["seq"] == 1 and audit["chain"]["link_recomputes"] is True
        assert audit["chain"]["previous"].startswith("genesis") and audit["chain"]["next"] == "seq 2 links to it"
        assert audit["inclusion_proof"]["status"] == "VERIFIED", audit["inclusion_proof"]

        pdf_path = tmp_path / "summary.pdf"
        out = _cli("report", "compliance-summary", "--tenant", "rw", "--from", today, "--to", today, "--verify",
                   "--public-keys", str(KEY_DIR), "--format", "pdf", "--out", str(pdf_path),
                   chdb_path=chdb_path, store=store)
        assert out.returncode == 0, out.stderr
        text = pdfium.PdfDocument(pdf_path.read_bytes())[0].get_textpage().get_text_range()
        assert "Compliance summary: rw" in text

        out = _cli("verify", "--tenant", "rw", "--json", "--public-keys", str(KEY_DIR),
                   chdb_path=chdb_path, store=store)
        assert out.returncode == 0, out.stdout + out.stderr
        assert json.loads(out.stdout)["ok"] is True

        out = _cli("hold", "set", "--tenant", "rw", "--user", "u-1", "--reason", "matter 7", "--by", "counsel",
                   "--bootstrap-servers", kafka_bootstrap, "--topic-prefix", topics.prefix,
                   chdb_path=chdb_path, store=store)
        assert out.returncode == 0, out.stderr
        assert "100 stored records held" in out.stdout.replace("\n", " ")
    finally:
        stop.set()
        if writer.is_alive():
            writer.join(10)
    try:
        assert publisher.flush(30) == 0
        deadline = time.monotonic() + 60
        db = store.database
        while not store.query(f"SELECT count() FROM {db}.events WHERE decision_type = 'legal_hold'").result_rows[0][0]:
            assert time.monotonic() < deadline, "the hold's own audit event never arrived"
            time.sleep(0.3)
        [(operation, outcome, by)] = store.query(f"SELECT operation, decision_outcome, user_id FROM {db}.events "
                                                 "WHERE decision_type = 'legal_hold'").result_rows
        assert (operation, outcome, by) == ("legal_hold", "placed", "counsel")
        assert store.query(f"SELECT sum(legal_hold) FROM {db}.events WHERE user_id = 'u-1'").result_rows == [(100,)]
        recorded = store.query(f"SELECT ok FROM {db}.verifications WHERE tenant_id = 'rw'").result_rows
        assert recorded and all(ok == 1 for (ok,) in recorded)
        report = verify(store)
        assert report.ok, report.findings
    finally:
        server.stop()
        sink.stop()
        for worker in workers:
            worker.stop()


def test_typed_parameters_reach_the_engine_through_its_owner_unchanged(store: Any, chdb_path: str) -> None:
    """A sink that does not own the engine asks it for `tenant_id IN {t:Array(String)}` (sink.py's
    checkpoint cover check); values must arrive as sent, not escaped twice."""
    server = EngineServer(store, Path(chdb_path))
    server.start()
    try:
        script = (
            "import json, sys\n"
            "from audit_layer_store.store import ClickHouseStore\n"
            f"s = ClickHouseStore('chdb://{chdb_path}', '{store.database}')\n"
            "assert s.via_owner\n"
            "rows = s.query(\"SELECT {t:Array(String)} AS t, {s:String} AS s, {n:UInt64} AS n\",\n"
            "               parameters={'t': ['drill-2', \"o'brien\"], 's': 'back\\\\slash \\'q\\'',\n"
            "                           'n': 7}).result_rows\n"
            "print(json.dumps([list(rows[0][0]), rows[0][1], rows[0][2]]))\n"
        )
        out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr[-2000:]
        assert json.loads(out.stdout) == [["drill-2", "o'brien"], "back\\slash 'q'", 7]
    finally:
        server.stop()
