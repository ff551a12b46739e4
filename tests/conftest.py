"""Fixtures: a real Kafka broker and the real (embedded) ClickHouse engine; never mocks.

Kafka: KAFKA_BOOTSTRAP_SERVERS when set; else testcontainers when a Docker engine answers;
else the local broker of scripts/kafka/kafka.sh (started, or reused when already up).
ClickHouse: one embedded engine path per test process (chDB allows one per process), a
fresh database per test.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from audit_layer_processors.topics_admin import ensure_topics
from audit_layer_schemas import Topics

REPO = Path(__file__).resolve().parents[1]
# the SDK's default spool lives under $HOME; tests never write into the developer's home
os.environ["HOME"] = tempfile.mkdtemp(prefix="audit-layer-home-")
PARTITIONS = 3
# one checkpoint signing key for the test session; never the developer's data/keys
KEY_DIR = Path(tempfile.mkdtemp(prefix="audit-layer-keys-"))
SIGNING_KEY = KEY_DIR / "test-ed25519.pem"


def _ensure_key() -> None:
    if not SIGNING_KEY.exists():
        from audit_layer_processors.signing import generate_key_file

        generate_key_file(SIGNING_KEY)


def trusted_keys() -> dict[str, bytes]:
    from audit_layer_ledger.proofs import load_public_keys

    _ensure_key()
    return load_public_keys(KEY_DIR)


def verify(store: Any, **kwargs: Any) -> Any:
    """`audit-layer verify` on a test store, trusting the session's checkpoint key."""
    from audit_layer_ledger.verify import verify_store

    return verify_store(store, public_keys=trusted_keys(), **kwargs)


def _docker_engine_answers() -> bool:
    """Only with the `docker` extra installed (testcontainers) and an engine that answers."""
    try:
        import docker  # type: ignore[import-untyped]
        import testcontainers.kafka  # type: ignore[import-untyped]  # noqa: F401

        return bool(docker.from_env(timeout=3).ping())
    except Exception:
        return False


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    configured = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if configured:
        yield configured
        return
    if _docker_engine_answers():
        from testcontainers.kafka import KafkaContainer  # type: ignore[import-untyped]

        with KafkaContainer("apache/kafka:4.1.0").with_kraft() as kafka:
            yield kafka.get_bootstrap_server()
        return
    port = os.environ.get("KAFKA_PORT", "9092")
    subprocess.run(["bash", str(REPO / "scripts/kafka/kafka.sh"), "start"], check=True,
                   env={**os.environ, "KAFKA_PORT": port})
    yield f"127.0.0.1:{port}"


@pytest.fixture
def topics(kafka_bootstrap: str) -> Topics:
    """Fresh topics for one test: a unique prefix keeps tests apart on one broker."""
    prefix = f"t{uuid.uuid4().hex[:10]}."
    result = Topics(prefix)
    ensure_topics(kafka_bootstrap, result, partitions=PARTITIONS)
    return result


@pytest.fixture(scope="session")
def chdb_path() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="audit-layer-chdb-") as path:
        yield path


@pytest.fixture
def store(chdb_path: str) -> Iterator[Any]:
    from audit_layer_store.store import ClickHouseStore

    database = f"test_{uuid.uuid4().hex[:10]}"
    result = ClickHouseStore(f"chdb://{chdb_path}", database)
    result.migrate()
    yield result
    result.command(f"DROP DATABASE IF EXISTS {database}")


class Worker:
    """A pipeline worker run as its own process, as in production (`audit-layer <name>`)."""

    def __init__(self, name: str, bootstrap: str, topics: Topics, log_dir: Path, *extra: str) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}-{uuid.uuid4().hex[:6]}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115
        if name == "sequencer":
            _ensure_key()
            extra = ("--signing-key", str(SIGNING_KEY), *extra)
        cmd = [sys.executable, "-m", "audit_layer_cli.main", name, "--bootstrap-servers", bootstrap,
               "--topic-prefix", topics.prefix, "--group", f"{topics.prefix}{name}", *extra]
        self.process = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT)

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, kill: bool = False) -> None:
        if self.alive():
            if kill:
                self.process.kill()
            else:
                self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._log.close()


class SinkThread:
    """The sink in the test process: the process that owns the embedded engine runs the sink."""

    def __init__(self, bootstrap: str, topics: Topics, store: Any, **config: Any) -> None:
        from audit_layer_sinks.sink import ClickHouseSink, SinkConfig

        self.sink = ClickHouseSink(SinkConfig(bootstrap, topics, group_id=f"{topics.prefix}sink", **config),
                                   store)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.sink.run()
        except BaseException as exc:
            self.error = exc

    def stop(self) -> None:
        self.sink.stop()
        self.thread.join(30)


# the two ways to run the stages before the sink: an enricher and sequencers, or sequencers that enrich
TOPOLOGIES = ("staged", "fused")


def chain_workers(bootstrap: str, topics: Topics, log_dir: Path, topology: str = "staged",
                  sequencers: int = 1) -> list[Worker]:
    """The processes that turn audit.events into audit.events.chained, in one of the TOPOLOGIES."""
    enrich = ("--enrich",) if topology == "fused" else ()
    enricher = [Worker("enricher", bootstrap, topics, log_dir)] if topology == "staged" else []
    return enricher + [Worker("sequencer", bootstrap, topics, log_dir, "--instance-id", str(i), *enrich)
                       for i in range(sequencers)]


@pytest.fixture
def pipeline(kafka_bootstrap: str, topics: Topics, store: Any, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Enricher and sequencer processes plus the sink, on fresh topics and a fresh database."""
    workers = chain_workers(kafka_bootstrap, topics, tmp_path)
    sink = SinkThread(kafka_bootstrap, topics, store)
    yield {"workers": workers, "sink": sink, "topics": topics, "store": store, "bootstrap": kafka_bootstrap}
    sink.stop()
    for worker in workers:
        worker.stop()


def run_until_chained(sequencer: Any, events: int, timeout: float, settle: float = 0.0,
                      after_stop: Callable[[], object] | None = None) -> list[BaseException]:
    """Run an in-process sequencer in a thread until it has chained `events` (or stopped, or `timeout` passed),
    `settle` seconds more for anything chained beyond them, then stop it (`after_stop` once it has stopped):
    what it raised."""
    failure: list[BaseException] = []

    def run() -> None:
        try:
            sequencer.run()
        except BaseException as exc:  # the test reads what stopped the sequencer
            failure.append(exc)

    worker = threading.Thread(target=run, name="sequencer")
    worker.start()
    try:
        deadline = time.monotonic() + timeout
        while sequencer.counts["chained"] < events and worker.is_alive() and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(settle)
    finally:
        sequencer.stop()
        worker.join(60)
        if after_stop is not None:
            after_stop()
    return failure


def wait_for_rows(store: Any, expected: int, timeout: float = 120.0, workers: list[Worker] = (),
                  sink: SinkThread | None = None) -> int:
    deadline = time.monotonic() + timeout
    count = 0
    while time.monotonic() < deadline:
        count = int(store.query(f"SELECT count() FROM {store.database}.events FINAL").result_rows[0][0])
        if count >= expected:
            return count
        for worker in workers:
            assert worker.alive(), f"{worker.name} died:\n{worker.log_tail()}"
        if sink is not None:
            assert sink.error is None, f"sink died: {sink.error!r}"
        time.sleep(0.3)
    return count


def wait_for_checkpoint(store: Any, tenant: str, seq: int, timeout: float = 60.0) -> None:
    """Until a signed checkpoint of `tenant` covers `seq` is stored."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        [(last,)] = store.query(f"SELECT max(last_seq) FROM {store.database}.checkpoints WHERE tenant_id = "
                                "{t:String}", parameters={"t": tenant}).result_rows
        if last and last >= seq:
            return
        time.sleep(0.3)
    raise AssertionError(f"no checkpoint of {tenant} reached seq {seq}")


def read_topic(bootstrap: str, topic: str, expected: int, timeout: float = 60) -> list[Any]:
    """Every message of `topic` from its start: until `expected` arrived (or `timeout`), then one more
    second, so a message too many is seen too."""
    from confluent_kafka import Consumer

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"{topic}-reader-{uuid.uuid4().hex[:6]}",
                         "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    found: list[Any] = []
    deadline = time.monotonic() + timeout
    try:
        while len(found) < expected and time.monotonic() < deadline:
            found.extend(m for m in consumer.consume(500, 0.5) if m.error() is None)
        found.extend(m for m in consumer.consume(500, 1.0) if m.error() is None)
    finally:
        consumer.close()
    return found


@pytest.fixture(scope="module")
def provider_url() -> Iterator[str]:
    """The LLM providers' stand-in (tests/llm_stand_in.py), shared by the tests of a module."""
    from tests.llm_stand_in import serving

    with serving() as url:
        yield url
