"""The SDK builds as PyPA's `build` makes it (sdist, then the wheel from the sdist), carrying the wire
contract and nothing of the pipeline."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def test_python_m_build_producer_makes_an_sdist_and_a_wheel_from_it(tmp_path: Path) -> None:
    tree = tmp_path / "tree"  # a clean tree: what git holds, no build output of an earlier run
    for folder in ("producer", "schemas"):
        shutil.copytree(REPO / folder, tree / folder, ignore=shutil.ignore_patterns(
            "node_modules", "dist", "__pycache__", "*.egg-info", "build"))
    out = subprocess.run([sys.executable, "-m", "build", str(tree / "producer"), "--outdir", str(tmp_path / "dist")],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    [wheel] = (tmp_path / "dist").glob("*.whl")
    [sdist] = (tmp_path / "dist").glob("*.tar.gz")
    names = zipfile.ZipFile(wheel).namelist()
    assert "audit_layer_sdk/__init__.py" in names and "audit_layer_schemas/__init__.py" in names
    assert any(n.startswith("audit_layer_schemas/avro/") and n.endswith(".avsc") for n in names)
    assert not any(n.startswith(("audit_layer_processors", "audit_layer_store", "audit_layer_api")) for n in names)
    with tarfile.open(sdist) as archive:
        assert any(n.endswith("audit_layer_schemas/__init__.py") for n in archive.getnames())
    metadata = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("METADATA"))).decode()
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    assert not any(name in line for line in requires for name in ("faust", "chdb", "clickhouse"))
