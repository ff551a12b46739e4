"""Search filters to SQL, and cursors (pure).

The organisation is the first condition of every query and comes from the API key, never from a
parameter. Results run newest first by chain position (`seq`), which is unique and never changes
within an organisation, so a cursor (the last seq seen) pages stably while new events arrive. A
cursor also carries a digest of the filters it was made for: reusing it with other filters is an
error rather than a silently wrong page.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any

MAX_LIMIT = 1000
# what ClickHouse's Date and DateTime64(6) columns hold; a bound outside is a client's error, not a query's
FIRST_DAY = dt.date(1970, 1, 1)
LAST_DAY = dt.date(2149, 6, 6)
SUMMARY_COLUMNS = (
    "toString(event_id) AS event_id", "seq", "timestamp", "user_id", "session_id", "provider", "model", "operation",
    "decision_type", "decision_outcome", "toString(action) AS action", "toString(risk_level) AS risk_level",
    "compliance_tags", "input_tokens", "output_tokens", "duration_ms", "finish_reason",
)
SUMMARY_NAMES = tuple(c.rsplit(" AS ", 1)[-1] for c in SUMMARY_COLUMNS)


class FilterError(ValueError):
    pass


def parse_instant(text: str, *, end: bool) -> dt.datetime:
    """RFC 3339 date-time (no zone: UTC), or a date: a whole UTC day, so an end date includes its day."""
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            value = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
            if end and day < LAST_DAY:
                value += dt.timedelta(days=1)
        else:
            value = dt.datetime.fromisoformat(text)
        value = value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
    except (ValueError, OverflowError):
        raise FilterError(f"{text!r} is neither a date (YYYY-MM-DD) nor a date-time (RFC 3339)") from None
    if not FIRST_DAY <= value.date() <= LAST_DAY:
        raise FilterError(f"{text!r} is outside the stored time range ({FIRST_DAY} to {LAST_DAY})")
    return value


@dataclass(frozen=True)
class Filters:
    start_date: str | None = None
    end_date: str | None = None
    decision_type: str | None = None
    decision_outcome: str | None = None
    model: str | None = None
    provider: str | None = None
    risk_level: str | None = None
    action: str | None = None
    user_id: str | None = None
    session_id: str | None = None
    compliance_tag: str | None = None

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]


_EQUALS = ("decision_type", "decision_outcome", "model", "provider", "user_id", "session_id")


def encode_cursor(last_seq: int, filters: Filters) -> str:
    raw = json.dumps({"seq": last_seq, "f": filters.digest()}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, filters: Filters) -> int:
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        seq, made_for = data["seq"], data["f"]
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
            raise ValueError
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise FilterError("cursor is not one this API returned; start again without it") from None
    if made_for != filters.digest():
        raise FilterError("cursor was made for other filters; pass the same filters as the first page")
    return seq


def search_sql(database: str, tenant_id: str, filters: Filters, limit: int,
               before_seq: int | None, hidden_types: tuple[str, ...] = ()) -> tuple[str, dict[str, object]]:
    """The query for one page (limit + 1 rows, to know whether there is a next page). `hidden_types`: decision
    types left out unless the decision_type filter names one."""
    if not 1 <= limit <= MAX_LIMIT:
        raise FilterError(f"limit must be between 1 and {MAX_LIMIT}")
    where = ["tenant_id = {tenant:String}"]
    params: dict[str, object] = {"tenant": tenant_id, "limit": limit + 1}
    start = parse_instant(filters.start_date, end=False) if filters.start_date else None
    end = parse_instant(filters.end_date, end=True) if filters.end_date else None
    if start is not None and end is not None and end <= start:
        raise FilterError("end_date is before start_date")
    if start is not None:
        where.append("timestamp >= fromUnixTimestamp64Micro({start:Int64})")
        params["start"] = int(start.timestamp() * 1_000_000)
    if end is not None:
        where.append("timestamp < fromUnixTimestamp64Micro({end:Int64})")
        params["end"] = int(end.timestamp() * 1_000_000)
    for name in _EQUALS:
        value = getattr(filters, name)
        if value is not None:
            where.append(f"{name} = {{{name}:String}}")
            params[name] = value
    if filters.risk_level is not None:
        where.append("risk_level = {risk_level:String}")
        params["risk_level"] = filters.risk_level
    if filters.action is not None:
        where.append("action = {action:String}")
        params["action"] = filters.action
    if filters.compliance_tag is not None:
        where.append("has(compliance_tags, {tag:String})")
        params["tag"] = filters.compliance_tag
    if hidden_types and filters.decision_type is None:
        where.append("ifNull(decision_type, '') NOT IN {hidden:Array(String)}")
        params["hidden"] = list(hidden_types)
    if before_seq is not None:
        where.append("seq < {before:UInt64}")
        params["before"] = before_seq
    # no FINAL: it stops ClickHouse reading the sort key in order and pruning by time (3-5x slower at
    # 10M rows). The (tenant, seq) key is unique by the sink's dedup tokens; should a duplicate row
    # exist before a merge, it sorts next to its twin and `unique_by_seq` drops it.
    sql = (f"SELECT {', '.join(SUMMARY_COLUMNS)} FROM {database}.events WHERE {' AND '.join(where)} "
           "ORDER BY seq DESC LIMIT {limit:UInt32}")
    return sql, params


def unique_by_seq(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows in seq order with a repeated seq (a not yet merged duplicate) kept once."""
    out: list[dict[str, Any]] = []
    for row in rows:
        if not out or out[-1]["seq"] != row["seq"]:
            out.append(row)
    return out
