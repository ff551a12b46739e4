"""Legal holds: records of a tenant, a user or a session kept past their retention until lifted.

A hold is a row in `legal_holds`; holding sets `legal_hold = 1` on the matching events, which
the table's TTL reads (a held row never expires). The sink marks new rows of held subjects as
it loads them and re-applies a hold it learns of, so rows it loaded just before are held too.
Setting and lifting are recorded as audit events by the command that calls these functions.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any

from audit_layer_ledger.evidence import Finding
from audit_layer_store.store import ClickHouseStore

_COLUMNS = ["hold_id", "tenant_id", "user_id", "session_id", "reason", "set_by", "set_at", "lifted_by", "lifted_at",
            "version"]


class HoldError(ValueError):
    pass


@dataclass(frozen=True)
class LegalHold:
    hold_id: str
    tenant_id: str
    user_id: str | None = None
    session_id: str | None = None
    reason: str = ""
    set_by: str = ""

    def __post_init__(self) -> None:
        if not self.tenant_id:
            raise HoldError("a legal hold names a tenant (and optionally one user or one session)")
        if self.user_id is not None and self.session_id is not None:
            raise HoldError("a legal hold names a user or a session, not both")

    @property
    def scope(self) -> str:
        if self.user_id is not None:
            return f"user {self.user_id} of tenant {self.tenant_id}"
        if self.session_id is not None:
            return f"session {self.session_id} of tenant {self.tenant_id}"
        return f"all of tenant {self.tenant_id}"

    def subject(self) -> dict[str, str]:
        """Who the hold covers, as the hold's audit event states it (so verify can rebuild it from the chain)."""
        if self.user_id is not None:
            return {"hold_user_id": self.user_id}
        if self.session_id is not None:
            return {"hold_session_id": self.session_id}
        return {"hold_whole_tenant": "true"}

    def matches(self, tenant_id: str, user_id: str | None, session_id: str | None) -> bool:
        return (tenant_id == self.tenant_id
                and (self.user_id is None or self.user_id == user_id)
                and (self.session_id is None or self.session_id == session_id))

    def condition(self, n: int) -> tuple[str, dict[str, Any]]:
        """This hold as a SQL condition on events, with its parameters suffixed by `n`."""
        params: dict[str, Any] = {f"t{n}": self.tenant_id}
        sql = f"(tenant_id = {{t{n}:String}}"
        if self.user_id is not None:
            sql += f" AND user_id = {{u{n}:String}}"
            params[f"u{n}"] = self.user_id
        if self.session_id is not None:
            sql += f" AND session_id = {{s{n}:String}}"
            params[f"s{n}"] = self.session_id
        return sql + ")", params


def active_holds(store: ClickHouseStore, tenant_id: str | None = None) -> list[LegalHold]:
    where = "lifted_at IS NULL" + (" AND tenant_id = {tenant:String}" if tenant_id else "")
    rows = store.query(f"SELECT hold_id, tenant_id, user_id, session_id, reason, set_by "
                       f"FROM {store.database}.legal_holds FINAL WHERE {where} ORDER BY set_at",
                       parameters={"tenant": tenant_id} if tenant_id else None).result_rows
    return [LegalHold(*row) for row in rows]


def holds_condition(holds: list[LegalHold]) -> tuple[str, dict[str, Any]]:
    """True for a row any of the holds covers (SQL over tenant_id, user_id, session_id)."""
    return _any_of(holds)


def _any_of(holds: list[LegalHold]) -> tuple[str, dict[str, Any]]:
    parts, params = [], {}
    for n, hold in enumerate(holds):
        sql, p = hold.condition(n)
        parts.append(sql)
        params.update(p)
    return " OR ".join(parts) or "0", params


def apply_holds(store: ClickHouseStore, holds: list[LegalHold]) -> None:
    """Mark every stored row the holds match (idempotent: held rows are left as they are)."""
    if not holds:
        return
    cond, params = _any_of(holds)
    store.command_with(f"ALTER TABLE {store.mutation_target('events')} UPDATE legal_hold = 1 "
                       f"WHERE legal_hold = 0 AND ({cond})", params, settings={"mutations_sync": 2})


def place_hold(store: ClickHouseStore, tenant_id: str, *, user_id: str | None = None,
               session_id: str | None = None, reason: str, set_by: str) -> tuple[LegalHold, int]:
    """Record and apply a new hold; returns it and the number of stored rows it holds."""
    hold = LegalHold(uuid.uuid4().hex[:12], tenant_id, user_id, session_id, reason, set_by)
    now = dt.datetime.now(dt.UTC)
    store.insert("legal_holds", [[hold.hold_id, tenant_id, user_id, session_id, reason, set_by, now, None, None,
                                  time.time_ns()]],
                 _COLUMNS)
    apply_holds(store, [hold])
    cond, params = hold.condition(0)
    held = store.query(f"SELECT count() FROM {store.database}.events WHERE {cond}", parameters=params)
    return hold, int(held.result_rows[0][0])


def lift_hold(store: ClickHouseStore, hold_id: str, lifted_by: str) -> tuple[LegalHold, int]:
    """Lift a hold; rows no other active hold covers expire again by their retention. Returns the
    hold and the number of rows released."""
    rows = store.query(f"SELECT hold_id, tenant_id, user_id, session_id, reason, set_by, set_at "
                       f"FROM {store.database}.legal_holds FINAL WHERE hold_id = {{h:String}} AND lifted_at IS NULL",
                       parameters={"h": hold_id}).result_rows
    if not rows:
        raise HoldError(f"no active legal hold {hold_id!r}; `audit-layer hold list` shows them")
    hold = LegalHold(*rows[0][:6])
    store.insert("legal_holds", [[*rows[0], lifted_by, dt.datetime.now(dt.UTC), time.time_ns()]],
                 _COLUMNS)
    others = [h for h in active_holds(store, hold.tenant_id) if h.hold_id != hold_id]
    cond, params = hold.condition(len(others))
    still, other_params = _any_of(others)
    params.update(other_params)
    where = f"legal_hold = 1 AND {cond} AND NOT ({still})"
    released = store.query(f"SELECT count() FROM {store.database}.events WHERE {where}", parameters=params)
    store.command_with(f"ALTER TABLE {store.mutation_target('events')} UPDATE legal_hold = 0 WHERE {where}",
                       params, settings={"mutations_sync": 2})
    return hold, int(released.result_rows[0][0])


def _meta(metadata: dict[str, str], key: str) -> str | None:
    """Admin events' metadata values are JSON text (the SDK's encoding of any value)."""
    value = metadata.get(key)
    if value is None:
        return None
    try:
        decoded = json.loads(value)
    except ValueError:
        return value
    return decoded if isinstance(decoded, str) else str(decoded)


def chained_holds(store: ClickHouseStore, tenant_id: str | None = None) -> dict[str, list[LegalHold]]:
    """The holds in force per tenant as the chain records them: every `legal_hold` event placed and not
    lifted. The legal_holds table is the database's word; these are the evidence."""
    where = "decision_type = 'legal_hold'" + (" AND tenant_id = {tenant:String}" if tenant_id else "")
    rows = store.query(f"SELECT tenant_id, decision_outcome, metadata FROM {store.database}.events FINAL "
                       f"WHERE {where} ORDER BY tenant_id, seq",
                       parameters={"tenant": tenant_id} if tenant_id else None).result_rows
    placed: dict[str, dict[str, LegalHold]] = {}
    for tenant, outcome, metadata in rows:
        hold_id = _meta(metadata, "hold_id")
        if hold_id is None:
            continue
        mine = placed.setdefault(tenant, {})
        if outcome == "lifted":
            mine.pop(hold_id, None)
            continue
        user, session = _meta(metadata, "hold_user_id"), _meta(metadata, "hold_session_id")
        scope = _meta(metadata, "scope") or ""
        if user is None and session is None and _meta(metadata, "hold_whole_tenant") is None:
            # events from before the subject was stated: its scope text says it
            found = re.match(r"^(user|session) (.*) of tenant ", scope)
            if found:
                user, session = (found.group(2), None) if found.group(1) == "user" else (None, found.group(2))
        mine[hold_id] = LegalHold(hold_id, tenant, user, session)
    return {tenant: list(holds.values()) for tenant, holds in placed.items()}


def hold_findings(store: ClickHouseStore, tenant_id: str | None = None) -> list[Finding]:
    """Rows whose legal_hold flag is not what the chained hold events say: a cleared flag lets held records
    expire or be deleted; a set one keeps records past their retention."""
    findings = []
    holds = chained_holds(store, tenant_id)
    tenants = [tenant_id] if tenant_id else [t for (t,) in store.query(
        f"SELECT DISTINCT tenant_id FROM {store.database}.events").result_rows]
    for tenant in tenants:
        cond, params = _any_of(holds.get(tenant, []))
        wrong = store.query(
            f"SELECT seq, legal_hold FROM {store.database}.events FINAL WHERE tenant_id = {{tenant:String}} "
            f"AND legal_hold != if({cond}, 1, 0) ORDER BY seq LIMIT 1",
            parameters={**params, "tenant": tenant}).result_rows
        if wrong:
            seq, flag = wrong[0]
            findings.append(Finding(tenant, int(seq), "hold_mismatch",
                                    "a held record's legal_hold flag was cleared" if not flag else
                                    "a record is flagged as held although no chained hold covers it"))
    return findings
