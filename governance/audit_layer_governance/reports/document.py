"""A report as a document of blocks (pure): what every format renders, so they say the same."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

# LOW to CRITICAL, green to red: the same colours in every chart, table and console page
RISK_COLORS = {"LOW": "#2f855a", "MEDIUM": "#b7791f", "HIGH": "#dd6b20", "CRITICAL": "#c53030"}


def rfc3339(moment: dt.datetime | float | int) -> str:
    """One timestamp format in every report: RFC 3339, UTC, whole seconds unless there is more."""
    if not isinstance(moment, dt.datetime):
        moment = dt.datetime.fromtimestamp(float(moment), dt.UTC)
    elif moment.tzinfo is None:  # ClickHouse DateTime values are UTC
        moment = moment.replace(tzinfo=dt.UTC)
    moment = moment.astimezone(dt.UTC)
    spec = "%Y-%m-%dT%H:%M:%S.%fZ" if moment.microsecond else "%Y-%m-%dT%H:%M:%SZ"
    return moment.strftime(spec)


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
    colors: tuple[str, ...] = ()  # one per label; the default palette when empty


@dataclass(frozen=True)
class Message:
    role: str  # system, user, assistant, tool
    text: str
    name: str = ""  # a tool call's function, or a participant's name


@dataclass(frozen=True)
class Conversation:
    """The prompt and the answer as the messages they were, not as the JSON they were sent in."""

    title: str
    messages: tuple[Message, ...]


Block = KeyValues | TableBlock | BarChart | Conversation


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
