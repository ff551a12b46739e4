"""The short version of `make faults`: the kill -9 drill with each worker killed once, on the real broker
and the embedded engine; the full drill (100,000 events, 20+ kills) is `make faults`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.integration


def _drill(script: str, bootstrap: str, tmp_path: Path, *args: str) -> dict[str, Any]:
    """Run one of faults/ as its own process; its JSON results, after it exited 0."""
    out = tmp_path / "drill.json"
    run = subprocess.run([sys.executable, str(REPO / "faults" / script), "--bootstrap", bootstrap, *args,
                          "--timeout", "1200", "--json", str(out)], capture_output=True, text=True, timeout=1700)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    result: dict[str, Any] = json.loads(out.read_text())
    return result


@pytest.mark.timeout(1800)  # each kill costs a group rebalance; on a loaded machine the catch-up is slow
def test_kill_9_of_every_worker_loses_and_doubles_nothing(kafka_bootstrap: str, tmp_path: Path) -> None:
    result = _drill("kill_drill.py", kafka_bootstrap, tmp_path, "--events", "3000", "--rate", "500",
                    "--min-kills", "3", "--seed", "7")
    assert result["passed"] and result["lost"] == 0 and result["duplicate_rows"] == 0 and not result["findings"]
    assert result["rows"] == result["distinct_event_ids"] == 3000
    assert all(n >= 1 for n in result["kills_by_worker"].values()), result["kills_by_worker"]
    assert result["verified_links"] == 3000


@pytest.mark.timeout(1800)
def test_workers_added_and_removed_mid_stream_lose_and_double_nothing(kafka_bootstrap: str, tmp_path: Path) -> None:
    """The short scale-out drill: two of each worker (sequencers that enrich, sinks) over six partitions, a
    third of each joins, then one of each leaves (sinks beyond the first load through the engine's owner)."""
    result = _drill("scale_drill.py", kafka_bootstrap, tmp_path, "--events", "4000", "--rate", "500",
                    "--start", "2", "--partitions", "6")
    assert result["passed"] and result["lost"] == 0 and result["duplicate_rows"] == 0 and not result["findings"]
    assert result["rows"] == result["distinct_event_ids"] == result["verified_links"] == 4000
    assert result["processes_per_stage"] == {"sequencer": 3, "sink": 3}  # the sequencers enrich
    assert result["handled_per_stage"]["sequencer"] == 4000  # clean handovers: none chained twice
    assert all(p["exits_restarted"] == 0 for p in result["processes"]), result["processes"]
