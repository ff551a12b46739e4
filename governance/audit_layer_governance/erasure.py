"""Erasure of a data subject's content (GDPR art. 17) that leaves every chain, checkpoint and proof valid.

Prompt, response and the salt of their digests are outside the chain's hashed bytes, so they
can be removed; the salted digests stay inside, and without the salt erased text cannot be
confirmed by hashing a guess. Content also sits in the Kafka topics until their retention
(`retention.ms`, 7 days by default for audit.events*), after which it is gone there too.
"""

from __future__ import annotations

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
        store.command_with(f"ALTER TABLE {store.mutation_target('events')} UPDATE prompt = NULL, response = NULL, "
                           f"content_salt = NULL WHERE {where}", params, settings={"mutations_sync": 2})
    return count
