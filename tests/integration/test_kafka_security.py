"""Every component over TLS and SASL, from the one set of AUDIT_LAYER_KAFKA_* settings: a broker of this
test's own with a SASL_SSL listener (its CA and certificate made here) and SCRAM users. The whole pipeline
runs on it (Python SDK, TypeScript SDK, REST API, enricher, sequencer, sink, topic admin) and verifies;
a wrong password, a wrong protocol or an untrusted certificate fails within seconds, saying which."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from audit_layer_samples.factories import make_event
from audit_layer_schemas import Topics
from audit_layer_sdk import AuditConfig, AuditPublisher

from tests.conftest import KEY_DIR, REPO, SinkThread, Worker, trusted_keys, verify, wait_for_rows
from tests.secure_broker import SecureBroker, secure_broker

pytestmark = pytest.mark.integration
PASSWORD = "scram-secret-of-the-auditor"
CLI = [sys.executable, "-m", "audit_layer_cli.main"]


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    with secure_broker(tmp_path_factory.mktemp("tls"), plain_users="plainuser:plain-secret") as made:
        made.add_scram_user("auditor", PASSWORD)
        made.add_scram_user("auditor512", PASSWORD, "SCRAM-SHA-512")
        yield made


def _cli(*args: str, env: dict[str, str], timeout: float = 60) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    done = subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=timeout)
    return done, time.monotonic() - started


@pytest.mark.parametrize("runtime", ["batch", "faust"])
def test_the_whole_pipeline_runs_over_sasl_ssl_with_scram(broker: SecureBroker, store: Any, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch, runtime: str) -> None:
    from tests.api_server import ApiServer

    security = broker.client_env("auditor", PASSWORD)
    for name, value in security.items():
        monkeypatch.setenv(name, value)  # the workers (child processes), the sink, the API and the SDK read them
    env = {**os.environ}
    topics = Topics(f"t{uuid.uuid4().hex[:10]}.")
    made, _ = _cli("topics", "--bootstrap-servers", broker.sasl_ssl, "--topic-prefix", topics.prefix,
                   "--partitions", "3", env=env)
    assert made.returncode == 0, made.stderr[-2000:]

    trusted_keys()
    workers = [Worker("enricher", broker.sasl_ssl, topics, tmp_path, "--runtime", runtime),
               Worker("sequencer", broker.sasl_ssl, topics, tmp_path, "--checkpoint-every", "20",
                      "--checkpoint-seconds", "1")]
    sink = SinkThread(broker.sasl_ssl, topics, store)
    api = ApiServer(broker.sasl_ssl, topics, store, KEY_DIR)
    try:
        # the Python SDK, configured from the environment alone
        config = dataclasses.replace(AuditConfig.from_env(), bootstrap_servers=broker.sasl_ssl,
                                     topic=topics.events, spool_dir=str(tmp_path / "spool"))
        assert config.kafka_overrides["security.protocol"] == "SASL_SSL"
        publisher = AuditPublisher(config)
        for i in range(40):
            assert publisher.publish(make_event(["acme-bank", "mercy-clinic"][i % 2]))
        assert publisher.flush(30) == 0
        publisher.close()

        # the REST API's producer
        with api.client(api.key("org-tls")) as http:
            answer = http.post("/v1/audit/log", json={"events": [
                {"decision_type": "support", "action": "ALLOW", "prompt": f"question {i}"} for i in range(5)]})
            assert answer.status_code == 200, answer.text
            assert http.get("/readyz").status_code == 200

        # the TypeScript SDK (kafkajs), from the same variables
        node = shutil.which("node")
        assert node is not None, "Node.js 20+ is needed for the TypeScript SDK"
        out = subprocess.run([node, "scripts/produce-events.mjs", "30"], cwd=REPO / "producer" / "typescript",
                             env={**env, "AUDIT_LAYER_BOOTSTRAP_SERVERS": broker.sasl_ssl,
                                  "AUDIT_LAYER_TOPIC_PREFIX": topics.prefix,
                                  "AUDIT_LAYER_SPOOL_DIR": str(tmp_path / "ts-spool")},
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr[-3000:]
        assert json.loads(out.stdout.strip().splitlines()[-1]) == {"produced": 30, "delivered": 30, "pending": 0}

        assert wait_for_rows(store, 75, workers=workers, sink=sink) == 75
        per_tenant = dict(store.query(f"SELECT tenant_id, count() FROM {store.database}.events FINAL "
                                      "GROUP BY tenant_id").result_rows)
        assert per_tenant == {"acme-bank": 30, "mercy-clinic": 30, "globex-hr": 10, "org-tls": 5}
        report = verify(store)
        assert report.ok, report.findings[:3]
        assert report.links == 75

        # the CLI's own Kafka reads (the checkpoint topic as verify's anchor) over the same settings
        listed, _ = _cli("dlq", "list", "--bootstrap-servers", broker.sasl_ssl, "--topic-prefix", topics.prefix,
                         env=env)
        assert listed.returncode == 0, listed.stderr[-2000:]
        assert "0 dead letter(s)" in listed.stdout, listed.stdout
    finally:
        api.stop()
        sink.stop()
        for worker in workers:
            worker.stop()


@pytest.mark.parametrize("case", ["wrong password", "unknown user", "plaintext to a TLS listener",
                                  "untrusted certificate", "wrong mechanism"])
def test_a_wrong_setting_fails_within_seconds_naming_its_cause(broker: SecureBroker, case: str) -> None:
    good = broker.client_env("auditor", PASSWORD)
    settings, expected = {
        "wrong password": ({**good, "AUDIT_LAYER_KAFKA_SASL_PASSWORD": "not-it"}, "refused the credentials"),
        "unknown user": (broker.client_env("nobody", PASSWORD), "refused the credentials"),
        "plaintext to a TLS listener": ({"AUDIT_LAYER_KAFKA_SECURITY_PROTOCOL": "PLAINTEXT"},
                                        "speaks another protocol than AUDIT_LAYER_KAFKA_SECURITY_PROTOCOL=PLAINTEXT"),
        "untrusted certificate": ({k: v for k, v in good.items() if k != "AUDIT_LAYER_KAFKA_SSL_CA_LOCATION"},
                                  "certificate is not trusted"),
        # auditor has SCRAM-SHA-256 credentials only
        "wrong mechanism": ({**good, "AUDIT_LAYER_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512"}, "refused the credentials"),
    }[case]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUDIT_LAYER_KAFKA_")} | settings
    done, took = _cli("sequencer", "--bootstrap-servers", broker.sasl_ssl, "--topic-prefix", "never.", env=env)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert expected in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert took < 8, f"took {took:.1f} s"


def test_scram_sha_512_and_plain_users_are_accepted_too(broker: SecureBroker) -> None:
    for env_settings in (broker.client_env("auditor512", PASSWORD, "SCRAM-SHA-512"),
                         broker.client_env("plainuser", "plain-secret", "PLAIN")):
        env = {k: v for k, v in os.environ.items() if not k.startswith("AUDIT_LAYER_KAFKA_")} | env_settings
        prefix = f"t{uuid.uuid4().hex[:10]}."
        done, _ = _cli("topics", "--bootstrap-servers", broker.sasl_ssl, "--topic-prefix", prefix, env=env)
        assert done.returncode == 0, done.stderr[-2000:]


def test_a_settings_mistake_is_an_error_at_start_naming_the_variable(broker: SecureBroker) -> None:
    base = {k: v for k, v in os.environ.items() if not k.startswith("AUDIT_LAYER_KAFKA_")}
    for settings, expected in [
        ({"AUDIT_LAYER_KAFKA_SASL_PASSWROD": "x"}, "AUDIT_LAYER_KAFKA_SASL_PASSWROD is not a Kafka setting"),
        ({"AUDIT_LAYER_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}, "SASL_SSL needs AUDIT_LAYER_KAFKA_SASL_MECHANISM"),
        ({"AUDIT_LAYER_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "AUDIT_LAYER_KAFKA_SASL_MECHANISM": "SCRAM-SHA-256",
          "AUDIT_LAYER_KAFKA_SASL_USERNAME": "auditor"}, "needs AUDIT_LAYER_KAFKA_SASL_PASSWORD"),
    ]:
        done, _ = _cli("topics", "--bootstrap-servers", broker.sasl_ssl, env=base | settings)
        assert done.returncode == 2 and expected in done.stderr, done.stderr


def test_the_sdk_says_why_and_keeps_the_event_when_the_broker_refuses_its_credentials(
        broker: SecureBroker, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from audit_layer_schemas.kafka_security import KafkaSecurity

    wrong = KafkaSecurity.from_env(broker.client_env("auditor", "not-it")).librdkafka()
    publisher = AuditPublisher(AuditConfig(bootstrap_servers=broker.sasl_ssl, topic="never.audit.events",
                                           kafka_overrides=wrong, spool_dir=str(tmp_path / "spool")))
    try:
        with caplog.at_level("WARNING"):
            assert publisher.publish(make_event("acme-bank"))
            assert publisher.flush(5) == 1  # not delivered, not dropped
            deadline = time.monotonic() + 10
            while "Authentication failed" not in caplog.text and time.monotonic() < deadline:
                time.sleep(0.2)
        assert "invalid credentials" in caplog.text, caplog.text[-2000:]
    finally:
        publisher.close(timeout=20)  # also on a failure: its client would go on knocking at a stopped broker
    assert publisher.snapshot().dropped == 0
