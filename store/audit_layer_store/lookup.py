"""One stored event by its id: (tenant, seq) from the event_keys index (sorted by id), then the
row by the events table's own key. Both are primary-key reads, so the cost does not grow with
the table."""

from __future__ import annotations

import uuid
from typing import Any

from audit_layer_store.rows import SELECT_COLUMNS
from audit_layer_store.store import ClickHouseStore


class EventNotFound(LookupError):
    pass


def event_key(store: ClickHouseStore, event_id: str, tenant: str | None = None) -> tuple[str, int]:
    """(tenant_id, seq) of the event; with `tenant`, only that tenant's (ids come from clients, so two
    tenants may send the same one: a tenant's reader must never get the other's). Without it, the
    first by (tenant_id, seq), the same answer every time."""
    try:
        event_id = str(uuid.UUID(event_id))
    except ValueError:
        raise EventNotFound(f"{event_id!r} is not an event id (a UUID)") from None
    only = " AND tenant_id = {t:String}" if tenant is not None else ""
    keys = store.query(f"SELECT tenant_id, seq FROM {store.database}.event_keys WHERE event_id = toUUID({{id:String}})"
                       f"{only} ORDER BY tenant_id, seq LIMIT 1",
                       parameters={"id": event_id, **({"t": tenant} if tenant is not None else {})}).result_rows
    if not keys:
        raise EventNotFound(f"no event {event_id} is stored")
    return str(keys[0][0]), int(keys[0][1])


def row_at(store: ClickHouseStore, tenant: str, seq: int, event_id: str,
           extra: tuple[str, ...] = ()) -> tuple[Any, ...]:
    """The SELECT_COLUMNS (then `extra`) row at (tenant, seq), which must hold `event_id`."""
    rows = store.query(f"SELECT {', '.join(SELECT_COLUMNS + extra)} FROM {store.database}.events FINAL "
                       "WHERE tenant_id = {t:String} AND seq = {s:UInt64}", parameters={"t": tenant, "s": seq})
    for row in rows.result_rows:
        if str(row[SELECT_COLUMNS.index("toString(event_id) AS event_id")]) == str(uuid.UUID(event_id)):
            return tuple(row)
    raise EventNotFound(f"no event {event_id} is stored")


def event_row(store: ClickHouseStore, event_id: str, extra: tuple[str, ...] = (),
              tenant: str | None = None) -> tuple[Any, ...]:
    """The event's SELECT_COLUMNS (then `extra`) row; with `tenant`, only that tenant's event (ids come
    from clients, so two tenants may send the same one: a tenant's reader must never get the other's)."""
    try:
        event_id = str(uuid.UUID(event_id))
    except ValueError:
        raise EventNotFound(f"{event_id!r} is not an event id (a UUID)") from None
    db = store.database
    only = " AND tenant_id = {t:String}" if tenant is not None else ""
    # one round trip: the key lookup as a subquery, whose (tenant_id, seq) set drives the events
    # table's primary key
    rows = store.query(
        f"SELECT {', '.join(SELECT_COLUMNS + extra)} FROM {db}.events FINAL WHERE (tenant_id, seq) IN "
        f"(SELECT tenant_id, seq FROM {db}.event_keys WHERE event_id = toUUID({{id:String}}){only})",
        parameters={"id": event_id, **({"t": tenant} if tenant is not None else {})}).result_rows
    for row in sorted(rows, key=lambda r: (r[0], r[1])):  # (tenant_id, seq): the same answer every time
        if str(row[SELECT_COLUMNS.index("toString(event_id) AS event_id")]) == event_id:
            return tuple(row)
    raise EventNotFound(f"no event {event_id} is stored")
