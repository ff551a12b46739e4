"""Our checkpoints, witness cosignatures and inclusion proofs checked by implementations we did not write:
golang.org/x/mod's signed-note and tlog code and github.com/transparency-dev/formats, in a small Go program
(tests/interop/c2sp) fetched from the Go module proxy and built here. They accept what the pipeline signs
and reject an edit; our own verifier agrees."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from audit_layer_ledger.proofs import build_consistency, build_proof, tenant_checkpoints
from audit_layer_ledger.verify import verify_store
from audit_layer_ledger.witness import Witness
from audit_layer_processors.signing import CheckpointSigner, load_signer
from audit_layer_processors.topics_admin import ensure_topics
from audit_layer_samples.factories import make_event
from audit_layer_schemas import Topics, signed_note
from audit_layer_sdk import AuditConfig, AuditPublisher
from audit_layer_store.store import ClickHouseStore
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.conftest import PARTITIONS, REPO, SIGNING_KEY, SinkThread, Worker, trusted_keys, wait_for_rows

pytestmark = pytest.mark.integration
NAME = "audit-layer.local"  # the sequencer's default --log-name


@pytest.fixture(scope="module")
def checker(tmp_path_factory: pytest.TempPathFactory) -> Path:
    go = shutil.which("go")
    assert go, "the Go toolchain is needed to build the independent C2SP checker"
    out = tmp_path_factory.mktemp("go") / "c2sp-check"
    build = subprocess.run([go, "build", "-o", str(out), "."], cwd=REPO / "tests" / "interop" / "c2sp",
                           capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stdout + build.stderr
    return out


@pytest.fixture(scope="module")
def signed_log(kafka_bootstrap: str, chdb_path: str, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[ClickHouseStore]:
    topics = Topics(f"t{uuid.uuid4().hex[:10]}.")
    ensure_topics(kafka_bootstrap, topics, partitions=PARTITIONS)
    store = ClickHouseStore(f"chdb://{chdb_path}", f"c2sp_{uuid.uuid4().hex[:8]}")
    store.migrate()
    logs = tmp_path_factory.mktemp("workers")
    workers = [Worker("enricher", kafka_bootstrap, topics, logs),
               Worker("sequencer", kafka_bootstrap, topics, logs, "--checkpoint-every", "20",
                      "--checkpoint-seconds", "3600")]
    sink = SinkThread(kafka_bootstrap, topics, store)
    try:
        publisher = AuditPublisher(AuditConfig(bootstrap_servers=kafka_bootstrap, topic=topics.events))
        for _ in range(60):
            publisher.publish(make_event("acme-bank"))
        assert publisher.flush(30) == 0
        assert wait_for_rows(store, 60, workers=workers, sink=sink) == 60
        deadline = time.monotonic() + 60
        while len(tenant_checkpoints(store, "acme-bank")) < 3:
            assert time.monotonic() < deadline, "no checkpoints"
            time.sleep(0.3)
    finally:
        sink.stop()
        for worker in workers:
            worker.stop()
    yield store
    store.command(f"DROP DATABASE IF EXISTS {store.database}")


def _run(checker: Path, cases: list[dict[str, Any]]) -> dict[str, str]:
    operator = load_signer(SIGNING_KEY)
    log_origin = signed_note.origin(NAME, "acme-bank")  # a log's key is named after its origin
    payload = {"log_vkey": signed_note.vkey(log_origin, signed_note.ALG_ED25519, operator.public_raw),
               "cases": cases}
    out = subprocess.run([str(checker)], input=json.dumps(payload), capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return dict(line.split(" ", 1) for line in out.stdout.splitlines())


def _edit_root(note: str) -> str:
    origin, size, _root, rest = note.split("\n", 3)
    other = base64.b64encode(bytes(32)).decode()
    return "\n".join([origin, size, other, rest])


def test_independent_tools_accept_our_checkpoints_and_reject_edits(checker: Path, signed_log: ClickHouseStore,
                                                                   tmp_path: Path) -> None:
    checkpoints = tenant_checkpoints(signed_log, "acme-bank")
    assert all(cp["note"] for cp in checkpoints)
    origin = signed_note.origin(NAME, "acme-bank")
    cases = [{"name": f"cp{cp['last_seq']}", "origin": origin, "note": cp["note"]} for cp in checkpoints]
    note = checkpoints[0]["note"]
    forger = CheckpointSigner(Ed25519PrivateKey.generate())
    cases += [
        {"name": "root-edited", "origin": origin, "note": _edit_root(note)},
        {"name": "other-tenant", "origin": signed_note.origin(NAME, "globex-hr"), "note": note},
        {"name": "foreign-key", "origin": origin, "note": forger.sign_note(origin, signed_note.parse(note)[0])},
    ]
    # a witness cosigns in the tlog-cosignature format
    witness = Witness(tmp_path / "witness", Ed25519PrivateKey.generate(), trusted_keys(), "witness.example")
    witness.observe("acme-bank", checkpoints,
                    lambda a, b: build_consistency(signed_log, "acme-bank", a, b)["proof"])
    cosigned = [json.loads(line) for line in (tmp_path / "witness" / "cosigned-acme-bank.jsonl").read_text()
                .splitlines()]
    other_witness = Witness(tmp_path / "w2", Ed25519PrivateKey.generate(), trusted_keys(), "witness.example")
    cases += [{"name": f"cosigned{e['last_seq']}", "origin": origin, "note": e["cosigned_note"],
               "witness_vkeys": [witness.vkey()]} for e in cosigned]
    cases += [
        {"name": "cosignature-edited", "origin": origin, "witness_vkeys": [witness.vkey()],
         "note": cosigned[-1]["cosigned_note"][:-6] + ("A" if cosigned[-1]["cosigned_note"][-6] != "A" else "B")
         + cosigned[-1]["cosigned_note"][-5:]},
        {"name": "another-witness", "origin": origin, "note": cosigned[-1]["cosigned_note"],
         "witness_vkeys": [other_witness.vkey()]},
    ]
    # an inclusion proof as a c2sp.org/tlog-proof@v1 document
    [(event_id, digest)] = signed_log.query(f"SELECT toString(event_id), hash FROM {signed_log.database}.events "
                                            "WHERE seq = 17").result_rows
    proof = build_proof(signed_log, event_id, trusted_keys())
    leaf = hashlib.sha256(b"\x00" + bytes(digest)).hexdigest()
    lines = proof["tlog_proof"].split("\n")
    lines[2] = base64.b64encode(bytes(32)).decode()  # the first audit-path hash
    cases += [
        {"name": "proof", "origin": origin, "proof": proof["tlog_proof"], "leaf_hash": leaf},
        {"name": "proof-path-edited", "origin": origin, "proof": "\n".join(lines), "leaf_hash": leaf},
        {"name": "proof-other-leaf", "origin": origin, "proof": proof["tlog_proof"], "leaf_hash": "00" * 32},
    ]
    results = _run(checker, cases)
    for case in cases:
        bad = case["name"] in {"root-edited", "other-tenant", "foreign-key", "cosignature-edited",
                               "another-witness", "proof-path-edited", "proof-other-leaf"}
        assert results[case["name"]].startswith("FAIL" if bad else "ok"), (case["name"], results[case["name"]])

    # our verifier agrees: a note edited in the database is a finding
    assert verify_store(signed_log, public_keys=trusted_keys()).ok
    signed_log.command(f"ALTER TABLE {signed_log.database}.checkpoints UPDATE note = {{n:String}} "
                       f"WHERE last_seq = {checkpoints[0]['last_seq']} SETTINGS mutations_sync = 2"
                       .replace("{n:String}", "'" + _edit_root(note).replace("\n", "\\n") + "'"))
    problems = {f.problem for f in verify_store(signed_log, public_keys=trusted_keys()).findings}
    assert "checkpoint_note_invalid" in problems
    signed_log.command(f"ALTER TABLE {signed_log.database}.checkpoints UPDATE note = {{n:String}} "
                       f"WHERE last_seq = {checkpoints[0]['last_seq']} SETTINGS mutations_sync = 2"
                       .replace("{n:String}", "'" + note.replace("\n", "\\n") + "'"))  # as it was
    assert verify_store(signed_log, public_keys=trusted_keys()).ok


@pytest.fixture
def our_witness(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """`audit-layer witness-serve`'s endpoint, on a thread of this process."""
    from audit_layer_ledger.witness_server import AddCheckpoint, serve

    witness = Witness(tmp_path / "served", Ed25519PrivateKey.generate(), trusted_keys(), "witness.test")
    server = serve(AddCheckpoint(witness, NAME), "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield {"url": f"http://127.0.0.1:{server.server_address[1]}", "origin": signed_note.origin(NAME, "acme-bank"),
               "vkey": witness.vkey()}
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(params=["litewitness", "our_witness"])
def a_witness(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Each tlog-witness the operator may use: a third party's, and ours."""
    return request.getfixturevalue(request.param)  # type: ignore[no-any-return]


@pytest.fixture
def litewitness(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A real witness, litewitness (filippo.io/torchwood), built from the Go module proxy and run here with its
    key in a dedicated ssh-agent, knowing the acme-bank log and our operator's key for it."""
    from cryptography.hazmat.primitives import serialization

    go = shutil.which("go")
    assert go and shutil.which("ssh-agent") and shutil.which("ssh-keygen"), "needs Go and OpenSSH"
    gobin = tmp_path / "bin"
    built = subprocess.run([go, "install", "filippo.io/torchwood/cmd/litewitness@v0.6.1",
                            "filippo.io/torchwood/cmd/witnessctl@v0.6.1"], env={**os.environ, "GOBIN": str(gobin)},
                           capture_output=True, text=True, timeout=900)
    assert built.returncode == 0, built.stderr
    key = tmp_path / "witness-key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key), "-C", "witness"], check=True)
    sock = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL)
    processes: list[subprocess.Popen[bytes]] = [agent]
    try:
        deadline = time.monotonic() + 10
        while not sock.exists():
            assert time.monotonic() < deadline, "ssh-agent did not start"
            time.sleep(0.1)
        subprocess.run(["ssh-add", str(key)], env={**os.environ, "SSH_AUTH_SOCK": str(sock)}, check=True,
                       capture_output=True)
        fingerprint = subprocess.run(["ssh-keygen", "-lf", f"{key}.pub", "-E", "sha256"], check=True,
                                     capture_output=True, text=True).stdout.split()[1]
        db = tmp_path / "litewitness.db"
        origin = signed_note.origin(NAME, "acme-bank")
        operator = load_signer(SIGNING_KEY)
        log_vkey = signed_note.vkey(origin, signed_note.ALG_ED25519, operator.public_raw)
        for args in (["add-log", "-db", str(db), "-origin", origin],
                     ["add-key", "-db", str(db), "-origin", origin, "-key", log_vkey]):
            subprocess.run([str(gobin / "witnessctl"), *args], check=True, capture_output=True)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        witness = subprocess.Popen([str(gobin / "litewitness"), "-db", str(db), "-name", "witness.test", "-key",
                                    fingerprint, "-ssh-agent", str(sock), "-listen", f"127.0.0.1:{port}"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        processes.append(witness)
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline and witness.poll() is None, "litewitness did not start"
                time.sleep(0.2)
        public = serialization.load_ssh_public_key(Path(f"{key}.pub").read_bytes())
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        yield {"url": f"http://127.0.0.1:{port}", "origin": origin,
               "vkey": signed_note.vkey("witness.test", signed_note.ALG_COSIGNATURE_V1, raw)}
    finally:
        for process in reversed(processes):
            process.terminate()
            process.wait(10)


def test_a_witness_cosigns_our_log_and_refuses_a_rollback_or_a_fork(
        checker: Path, signed_log: ClickHouseStore, a_witness: dict[str, Any]) -> None:
    litewitness = a_witness
    from audit_layer_ledger.tlog_witness import submit
    from audit_layer_ledger.witness import WitnessAlarm

    checkpoints = tenant_checkpoints(signed_log, "acme-bank")
    consistency = lambda a, b: build_consistency(signed_log, "acme-bank", a, b)["proof"]  # noqa: E731
    cosignatures = submit(litewitness["url"], checkpoints, consistency)
    assert len(cosignatures) == len(checkpoints)
    # its cosignatures check with the independent tools, over our note
    newest = checkpoints[-1]
    results = _run(checker, [{"name": "litewitness", "origin": litewitness["origin"],
                              "note": newest["note"] + cosignatures[-1], "witness_vkeys": [litewitness["vkey"]]}])
    assert results["litewitness"] == "ok", results
    # the log, rolled back below what the witness cosigned
    with pytest.raises(WitnessAlarm, match="rollback"):
        submit(litewitness["url"], checkpoints[:-1], consistency)
    # a fork: a larger checkpoint, validly signed by the operator, that does not extend the cosigned tree
    operator = load_signer(SIGNING_KEY)
    origin = litewitness["origin"]
    forged_body = signed_note.checkpoint_body(origin, newest["last_seq"] + 5, bytes(32))
    forged = {**newest, "last_seq": newest["last_seq"] + 5, "note": operator.sign_note(origin, forged_body)}
    with pytest.raises(WitnessAlarm, match="does not extend"):
        submit(litewitness["url"], [*checkpoints, forged],
               lambda a, b: consistency(a, min(b, newest["last_seq"])))
