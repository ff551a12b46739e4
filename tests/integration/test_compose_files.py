"""The Compose files as Docker Compose reads them: loaded by compose-go (Compose's own loader, from the Go
module proxy), alone and with the cluster file, with the passwords coming from an env file."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
LOADER = REPO / "tests/interop/compose"
WORKERS = ("sequencer", "sink", "api")  # every service built from this repository's image but `topics`


@pytest.fixture(scope="module")
def load(tmp_path_factory: pytest.TempPathFactory) -> Any:
    binary = tmp_path_factory.mktemp("compose") / "compose-load"
    subprocess.run(["go", "build", "-o", str(binary), "."], cwd=LOADER, check=True, timeout=600)

    def run(*files: str, env_file: Path | None = None) -> subprocess.CompletedProcess[str]:
        args = [str(binary), *(["-env-file", str(env_file)] if env_file else []), *(str(REPO / f) for f in files)]
        return subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=REPO, env={"PATH": "/usr/bin"})

    return run


def test_the_compose_files_load_alone_and_together(load: Any, tmp_path: Path) -> None:
    env = tmp_path / "compose.env"
    env.write_text("CLICKHOUSE_PASSWORD=from-the-env-file\n")
    single = load("docker-compose.yml", env_file=env)
    assert single.returncode == 0, single.stderr
    services = json.loads(single.stdout)["services"]
    assert set(services) == {"kafka", "clickhouse", "topics", "sequencer", "sink", "api", "prometheus"}
    # one stage before the sink: the sequencer enriches (no enricher, no audit.events.enriched traffic)
    assert services["sequencer"]["command"][:2] == ["sequencer", "--enrich"]
    # Prometheus reads deploy/prometheus (its rules are checked by promtool in test_monitoring_config.py)
    mounts = {v["target"]: v["source"] for v in services["prometheus"]["volumes"]}
    assert mounts["/etc/prometheus"] == str(REPO / "deploy" / "prometheus")
    # every component reads the Kafka security settings from .env; none set: plaintext
    for name in (*WORKERS, "topics"):
        assert services[name]["environment"]["AUDIT_LAYER_KAFKA_SECURITY_PROTOCOL"] == "", name
    secured = tmp_path / "secured.env"
    secured.write_text("CLICKHOUSE_PASSWORD=x\nAUDIT_LAYER_KAFKA_SECURITY_PROTOCOL=SASL_SSL\n"
                       "AUDIT_LAYER_KAFKA_SASL_PASSWORD=from-env\n")
    with_security = json.loads(load("docker-compose.yml", env_file=secured).stdout)["services"]
    for name in (*WORKERS, "topics"):
        assert with_security[name]["environment"]["AUDIT_LAYER_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
        assert with_security[name]["environment"]["AUDIT_LAYER_KAFKA_SASL_PASSWORD"] == "from-env"
    assert services["clickhouse"]["environment"]["CLICKHOUSE_PASSWORD"] == "from-the-env-file"
    for name in WORKERS:
        assert services[name]["environment"]["AUDIT_LAYER_CLICKHOUSE_DSN"] == \
            "http://default:from-the-env-file@clickhouse:8123"
        assert services[name]["environment"]["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
    # the image's HEALTHCHECK asks each service's own URL: the API its readiness
    assert services["api"]["environment"]["AUDIT_LAYER_HEALTH_URL"] == "http://127.0.0.1:8000/readyz"

    both = load("docker-compose.yml", "docker-compose.cluster.yml", env_file=env)
    assert both.returncode == 0, both.stderr
    services = json.loads(both.stdout)["services"]
    assert {"keeper", "clickhouse", "clickhouse-2"} <= set(services)
    for name in (*WORKERS, "topics"):  # every service is wired for the cluster
        assert services[name]["environment"]["AUDIT_LAYER_CLICKHOUSE_CLUSTER"] == "audit", name
    for name in ("sink", "api"):
        assert {"clickhouse", "clickhouse-2"} <= set(services[name]["depends_on"])
    # every image pinned to an exact release, never a moving tag
    images = {name: svc["image"] for name, svc in services.items() if "image" in svc}
    assert {"kafka", "clickhouse", "clickhouse-2", "keeper", "prometheus"} <= set(images)
    for name, image in images.items():
        assert re.fullmatch(r"[a-z0-9./-]+:v?\d+\.\d+\.\d+(\.\d+)?", image), (name, image)
    replicas = [v["source"] for v in services["clickhouse-2"]["volumes"] if v["target"].endswith("macros.xml")]
    assert replicas and replicas[0].endswith("macros-clickhouse-2.xml")


def test_no_password_is_written_in_the_files(load: Any) -> None:
    missing = load("docker-compose.yml")
    assert missing.returncode == 1 and "CLICKHOUSE_PASSWORD" in missing.stderr
    assert "compose.env.example" in missing.stderr
    for path in ("docker-compose.yml", "docker-compose.cluster.yml", "deploy/clickhouse/cluster.xml"):
        text = (REPO / path).read_text()
        assert "PASSWORD: audit" not in text and "default:audit@" not in text and "<password>" not in text, path
