"""The SDK pulls only its own dependencies: never faust, chdb or clickhouse_connect."""

import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_importing_the_sdk_imports_no_pipeline_dependency() -> None:
    script = (
        "import sys\n"
        "import audit_layer_sdk\n"
        "from audit_layer_sdk import AuditCollector, AuditPublisher, AuditOpenAI\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'faust', 'mode', 'aiokafka', 'chdb', 'clickhouse_connect', 'audit_layer_processors',"
        " 'audit_layer_sinks', 'audit_layer_store', 'audit_layer_ledger', 'audit_layer_governance'})\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_sdk_distribution_declares_only_its_dependencies() -> None:
    project = tomllib.loads((REPO / "producer" / "pyproject.toml").read_text())["project"]
    names = {d.split(">")[0].split("=")[0].split("[")[0].strip() for d in project["dependencies"]}
    assert names == {"confluent-kafka", "fastavro", "pydantic"}
