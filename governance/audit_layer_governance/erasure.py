"""Erasure of a data subject's content (GDPR art. 17) that leaves every chain, checkpoint and proof valid.

Prompt, response and the salt of their digests are outside the chain's hashed bytes, so they
can be removed; the salted digests stay inside, and without the salt erased text cannot be
confirmed by hashing a guess. Content also sits in the Kafka topics until their retention
(`retention.ms`, 7 days by default for audit.events*), after which it is gone there too.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from audit_layer_store.store import ClickHouseStore


class ErasureError(ValueError):
    pass


@dataclass(frozen=True)
class ErasureRequest:
    tenant_id: str
    user_id: str | None = None
    session_id: str | None = None

    def __post_init__(self) -> None:
        if not self.tenant_id or (self.user_id is None) == (self.session_id is None):
            raise ErasureError("an erasure names a tenant and exactly one of a user or a session")

    @property
    def subject(self) -> str:
        return f"user {self.user_id}" if self.user_id is not None else f"session {self.session_id}"


def erase_content(store: ClickHouseStore, request: ErasureRequest) -> int:
    """Removes the subject's prompt, response and content salt; returns the number of records erased."""
    column, value = ("user_id", request.user_id) if request.user_id is not None else ("session_id",
                                                                                        request.session_id)
    params = {"tenant": request.tenant_id, "value": value}
    where = (f"tenant_id = {{tenant:String}} AND {column} = {{value:String}} "
             "AND (prompt IS NOT NULL OR response IS NOT NULL OR content_salt IS NOT NULL)")
    count = int(store.query(f"SELECT count() FROM {store.database}.events FINAL WHERE {where}",
                            parameters=params).result_rows[0][0])
    if count:
        # NULL alone only sets the null flag: the text stays underneath, readable with assumeNotNull(). Empty
        # strings overwrite it first, in the same mutation.
        store.command_with(f"ALTER TABLE {store.mutation_target('events')} "
                           f"UPDATE prompt = '', response = '', content_salt = '' WHERE {where}, "
                           f"UPDATE prompt = NULL, response = NULL, content_salt = NULL WHERE {where}",
                           params, settings={"mutations_sync": 2})
        purge_superseded_parts(store)
    return count


def purge_superseded_parts(store: ClickHouseStore, timeout: float = 120.0) -> None:
    """The parts a mutation replaced stay on disk for `old_parts_lifetime` (8 minutes), readable by anyone who
    attaches them; a CLI that owns the engine for a moment would leave them there for good. Erasure is done
    when they are gone."""
    target = store.mutation_target("events")
    table = "events" if store.topology.cluster is None else "events_local"
    store.command(f"ALTER TABLE {target} MODIFY SETTING old_parts_lifetime = 0")
    try:
        deadline = time.monotonic() + timeout
        while True:
            [(left,)] = store.query(
                "SELECT count() FROM system.parts WHERE database = {db:String} AND table = {t:String} AND NOT active",
                parameters={"db": store.database, "t": table}).result_rows
            if not left:
                return
            if time.monotonic() > deadline:
                raise ErasureError(f"{left} superseded parts of {table} still hold erased content after "
                                   f"{timeout:g}s; run the erasure again")
            time.sleep(0.5)
    finally:
        store.command(f"ALTER TABLE {target} RESET SETTING old_parts_lifetime")
