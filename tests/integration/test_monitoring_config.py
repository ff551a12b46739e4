"""deploy/prometheus and deploy/grafana checked by Prometheus's own promtool (Debian's package, fetched by
scripts/promtool.sh): the alert rules load and fire on the series they should (promtool's rule unit tests),
the scrape configuration loads, every dashboard query parses as PromQL; and every metric they name is one
the workers and the API actually expose."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

pytestmark = pytest.mark.integration
DEPLOY = REPO / "deploy"
METRIC = re.compile(r"\baudit_layer_[a-z_]+")


@pytest.fixture(scope="module")
def promtool() -> str:
    done = subprocess.run(["bash", str(REPO / "scripts/promtool.sh")], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def _run(promtool: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool, *args], capture_output=True, text=True, timeout=120, cwd=DEPLOY / "prometheus")


def _dashboard_queries() -> list[str]:
    dashboard = json.loads((DEPLOY / "grafana" / "audit-layer.json").read_text())
    return [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]


def test_the_alert_rules_load_and_fire_on_what_they_should(promtool: str) -> None:
    checked = _run(promtool, "check", "rules", "alerts.yml")
    assert checked.returncode == 0 and "SUCCESS: 6 rules found" in checked.stdout, checked.stdout + checked.stderr
    tested = _run(promtool, "test", "rules", "alerts_test.yml")
    assert tested.returncode == 0 and "SUCCESS" in tested.stdout, tested.stdout + tested.stderr
    assert _run(promtool, "check", "config", "prometheus.yml").returncode == 0


def test_the_rule_tests_can_fail(promtool: str, tmp_path: Path) -> None:
    """The rule unit tests are a real check: the same test against rules with a raised threshold fails."""
    rules = (DEPLOY / "prometheus" / "alerts.yml").read_text().replace("> 900", "> 90000")
    (tmp_path / "alerts.yml").write_text(rules)
    (tmp_path / "alerts_test.yml").write_text((DEPLOY / "prometheus" / "alerts_test.yml").read_text())
    failed = subprocess.run([promtool, "test", "rules", "alerts_test.yml"], capture_output=True, text=True,
                            timeout=120, cwd=tmp_path)
    assert failed.returncode != 0 and "AuditLayerCheckpointStale" in failed.stdout + failed.stderr


def test_every_dashboard_query_is_promql(promtool: str, tmp_path: Path) -> None:
    queries = _dashboard_queries()
    assert len(queries) >= 12
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:query_{i}", "expr": q} for i, q in enumerate(queries)]}]}
    (tmp_path / "queries.yml").write_text(yaml.safe_dump(rules))
    checked = subprocess.run([promtool, "check", "rules", str(tmp_path / "queries.yml")], capture_output=True,
                             text=True, timeout=120)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_every_metric_the_rules_and_dashboard_name_is_exposed() -> None:
    from audit_layer_api.metrics import ApiMetrics
    from audit_layer_processors.worker_metrics import WorkerMetrics
    from prometheus_client.parser import text_string_to_metric_families

    exposed: set[str] = set()
    for worker in ("enricher", "sequencer", "sink"):
        metrics = WorkerMetrics(worker, lambda: {})
        metrics.events = lambda: (1, 1)
        metrics.dead_letters = lambda: {"invalid_event": 1}
        metrics.checkpoint_times_us = lambda: {"t": 1.0}
        metrics.unsigned_links = lambda: {"t": 0.0}
        metrics.verifications = lambda: {"t": (True, 1.0)}
        metrics.engine_role = lambda: "server"
        metrics.batch_seconds.observe(0.1)
        metrics.on_stats(json.dumps({"topics": {"x": {"partitions": {"0": {"consumer_lag": 1,
                                                                           "fetch_state": "active"}}}}}))
        exposed |= {s.name for f in text_string_to_metric_families(metrics.exposition()) for s in f.samples}
    api = ApiMetrics()
    api.requests.labels("GET", "/", "200").inc()
    api.latency.labels("/").observe(0.1)
    exposed |= {s.name for f in text_string_to_metric_families(api.exposition().decode()) for s in f.samples}
    named = set(METRIC.findall((DEPLOY / "prometheus" / "alerts.yml").read_text()))
    named |= {m for q in _dashboard_queries() for m in METRIC.findall(q)}
    assert named and named <= exposed, sorted(named - exposed)
