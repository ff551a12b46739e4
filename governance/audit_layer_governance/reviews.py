"""Human review of a decision after the fact, as a chained audit event of its own.

A review never edits the decision it reviews (the record is immutable): it is a new event,
`decision_type = decision_review`, in the same tenant's chain, whose metadata names the reviewed
event. From then on the named query and the reports count the decision as reviewed. A decision
reviewed when it was made carries `human_reviewed_by` in its own metadata, as before.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from dataclasses import dataclass
from typing import Any

from audit_layer_schemas import AuditEvent
from audit_layer_schemas.ids import uuid7
from audit_layer_schemas.models import Action
from audit_layer_store.store import ClickHouseStore

REVIEW_DECISION = "decision_review"
REVIEWED_KEY = "reviews_event_id"
VERDICTS = ("confirmed", "overridden")
MAX_NOTE_CHARS = 10_000
REVIEW_SDK = "audit-layer-review"


class ReviewError(ValueError):
    pass


def review_event(*, tenant_id: str, reviewed_event_id: str, verdict: str, note: str, reviewer: str,
                 reviewer_name: str = "", sdk_version: str = "1.0.0") -> AuditEvent:
    """The review as an event (pure). `reviewer` is who decided (e.g. `api-key:<id>`)."""
    if verdict not in VERDICTS:
        raise ReviewError(f"verdict must be one of {', '.join(VERDICTS)}, not {verdict!r}")
    note = note.strip()
    if not note:
        raise ReviewError("a review needs a note saying why")
    if len(note) > MAX_NOTE_CHARS:
        raise ReviewError(f"the note is {len(note):,} characters; at most {MAX_NOTE_CHARS:,}")
    try:
        reviewed = str(uuid.UUID(reviewed_event_id))
    except ValueError:
        raise ReviewError(f"{reviewed_event_id!r} is not an event id") from None
    metadata = {REVIEWED_KEY: reviewed, "human_reviewed_by": reviewer}
    if reviewer_name:
        metadata["reviewer_name"] = reviewer_name
    return AuditEvent(
        event_id=str(uuid7()), timestamp_us=time.time_ns() // 1000, tenant_id=tenant_id, user_id=reviewer,
        provider="audit-layer", operation="review", action=Action.ALLOW, reason_codes=[f"review_{verdict}"],
        decision_type=REVIEW_DECISION, decision_outcome=verdict, reasoning=note, metadata=metadata,
        sdk_name=REVIEW_SDK, sdk_version=sdk_version)


def reviewed_ids_sql(db: str, tenant_param: str = "t") -> str:
    """The ids of the tenant's decisions reviewed after the fact (a subquery)."""
    return (f"(SELECT toUUIDOrZero(metadata['{REVIEWED_KEY}']) FROM {db}.events WHERE tenant_id = "
            f"{{{tenant_param}:String}} AND decision_type = '{REVIEW_DECISION}')")


def unreviewed_condition(db: str, tenant_param: str = "t") -> str:
    """A HIGH or CRITICAL decision no person has reviewed, then or since (a WHERE condition on events)."""
    return (f"risk_level >= 'HIGH' AND ifNull(decision_type, '') != '{REVIEW_DECISION}' AND NOT "
            f"mapContains(metadata, 'human_reviewed_by') AND event_id NOT IN {reviewed_ids_sql(db, tenant_param)}")


@dataclass(frozen=True)
class Review:
    event_id: str
    reviewed_event_id: str
    verdict: str
    note: str
    reviewer: str
    reviewed_at: dt.datetime
    seq: int


def reviews_of(store: ClickHouseStore, tenant: str, event_id: str) -> list[Review]:
    rows = store.query(
        f"SELECT toString(event_id), metadata['{REVIEWED_KEY}'], decision_outcome, reasoning, user_id, timestamp, "
        f"seq FROM {store.database}.events WHERE tenant_id = {{t:String}} AND decision_type = '{REVIEW_DECISION}' "
        f"AND metadata['{REVIEWED_KEY}'] = {{e:String}} ORDER BY seq LIMIT 1 BY seq",
        parameters={"t": tenant, "e": str(uuid.UUID(event_id))}).result_rows
    return [Review(str(i), str(r), str(v), str(n or ""), str(u or ""), at, int(s)) for i, r, v, n, u, at, s in rows]


def unreviewed(store: ClickHouseStore, tenant: str, *, start: dt.date | None = None, end: dt.date | None = None,
               limit: int = 500, offset: int = 0, exact: bool = True, counted: bool = True
               ) -> tuple[int, list[dict[str, Any]]]:
    """(how many, the newest `limit` of them after `offset`): HIGH and CRITICAL decisions not reviewed.

    The list reads the newest rows first in the table's own order and stops at the page. The count is exact
    from the stored events (each seq once; what the reports use), or with `exact=False` from the daily
    aggregates less the decisions reviewed since (the console's queue: fast over any number of events,
    and as good as the aggregates, which the compliance summary holds against the events)."""
    db = store.database
    period = "" if start is None or end is None else " AND toDate(timestamp) BETWEEN {f:Date} AND {e:Date}"
    params: dict[str, Any] = {"t": tenant, "f": start, "e": end, "n": (limit + offset) * 2 + 10}
    where = f"tenant_id = {{t:String}}{period} AND {unreviewed_condition(db)}"
    count = 0
    if not counted:  # the caller counts them itself
        pass
    elif exact:
        [(count,)] = store.query(f"SELECT uniqExact(seq) FROM {db}.events WHERE {where}",
                                 parameters=params).result_rows
    else:
        days = "" if start is None or end is None else " AND day BETWEEN {f:Date} AND {e:Date}"
        [(at_emit,)] = store.query(f"SELECT sum(unreviewed_high) FROM {db}.events_daily WHERE tenant_id = "
                                   f"{{t:String}}{days}", parameters=params).result_rows
        [(since,)] = store.query(
            f"SELECT uniqExact(seq) FROM {db}.events WHERE tenant_id = {{t:String}}{period} AND risk_level >= 'HIGH' "
            f"AND NOT mapContains(metadata, 'human_reviewed_by') AND event_id IN {reviewed_ids_sql(db)}",
            parameters=params).result_rows
        count = max(int(at_emit or 0) - int(since), 0)
    rows = store.query(
        f"SELECT timestamp, toString(event_id), seq, decision_type, decision_outcome, toString(risk_level), "
        f"risk_reasons, user_id, model FROM {db}.events WHERE {where} ORDER BY seq DESC LIMIT {{n:UInt32}}",
        parameters=params).result_rows
    names = ("timestamp", "event_id", "seq", "decision_type", "decision_outcome", "risk_level", "risk_reasons",
             "user_id", "model")
    seen: set[int] = set()
    distinct = []
    for row in rows:  # a row stored twice (an identical twin) is listed once
        if row[2] not in seen:
            seen.add(row[2])
            distinct.append(dict(zip(names, row, strict=True)))
    return int(count), distinct[offset:offset + limit]


def review_states(store: ClickHouseStore, tenant: str, event_ids: list[str]) -> dict[str, str]:
    """event id -> `reviewed` (a review event names it), `reviewed when made` (human_reviewed_by), or absent."""
    if not event_ids:
        return {}
    ids = [str(uuid.UUID(i)) for i in event_ids]
    db = store.database
    states = {str(i): "reviewed when made" for (i,) in store.query(
        f"SELECT toString(event_id) FROM {db}.events WHERE tenant_id = {{t:String}} AND "
        "event_id IN {ids:Array(UUID)} AND mapContains(metadata, 'human_reviewed_by')",
        parameters={"t": tenant, "ids": ids}).result_rows}
    for (i,) in store.query(
            f"SELECT DISTINCT metadata['{REVIEWED_KEY}'] FROM {db}.events WHERE tenant_id = {{t:String}} AND "
            f"decision_type = '{REVIEW_DECISION}' AND metadata['{REVIEWED_KEY}'] IN {{ids:Array(String)}}",
            parameters={"t": tenant, "ids": ids}).result_rows:
        states[str(i)] = "reviewed"
    return states
