"""A report as a document of blocks (pure): what every format renders, so they say the same."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class KeyValues:
    title: str
    items: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class TableBlock:
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class BarChart:
    """Horizontal bars, one per label; `unit` names what the values count."""

    title: str
    labels: tuple[str, ...]
    values: tuple[float, ...]
    unit: str = "events"


Block = KeyValues | TableBlock | BarChart


@dataclass(frozen=True)
class Report:
    kind: str
    title: str
    subtitle: str
    generated_at: str
    parameters: dict[str, Any]
    blocks: tuple[Block, ...]
    # the report's figures as numbers, for json and for programs checking them
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def charts(self) -> list[BarChart]:
        return [b for b in self.blocks if isinstance(b, BarChart)]
