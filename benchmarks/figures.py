"""What every benchmark ends with: its figures as a table beside their targets, and as JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def publish(title: str, results: dict[str, float], targets: dict[str, str], json_path: Path,
            console: Console | None = None) -> None:
    table = Table(title=title)
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_column("target", justify="right")
    for name, value in results.items():
        table.add_row(name, f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}", targets.get(name, ""))
    (console or Console()).print(table)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(results, indent=2))
