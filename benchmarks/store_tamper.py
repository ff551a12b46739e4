"""The tamper drill's ClickHouse part: what someone with write access to the database can do that a list of
rows cannot express (a second row for a stored seq in any monthly partition, a map key written twice, a
legal-hold flag or a retention period changed, a forged `verifications` row, a forged daily aggregate), each
tried on a fresh copy of one real store in the embedded engine and judged as an operator would see it:
`audit-layer verify` (the chain, stored rows, holds, retention) and the compliance summary's status.

Used by benchmarks/tamper_drill.py (`--store-trials`).
"""

from __future__ import annotations

import datetime as dt
import random
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from audit_layer_governance.reports import compliance_summary
from audit_layer_governance.retention import default_retention
from audit_layer_governance.verification import verify_all
from audit_layer_ledger.verify import StoredCheckpoint
from audit_layer_store.rows import CHECKPOINT_COLUMNS, INSERT_COLUMNS, row_from_chained, row_from_checkpoint
from audit_layer_store.store import ClickHouseStore

Row = tuple[str, int, bytes, bytes, str, dict[str, Any]]
KINDS = ["twin_other_partition", "twin_final_picks", "map_key_twice", "hold_flag_changed", "retention_changed",
         "forged_verification_row", "forged_aggregate"]


class StoreDrill:
    def __init__(self, rows: list[Row], cps: list[StoredCheckpoint], keys: dict[str, bytes]) -> None:
        self._folder = tempfile.TemporaryDirectory(prefix="audit-layer-tamper-drill-")
        self._dsn = f"chdb://{self._folder.name}"
        self._keys = keys
        self._rows = rows
        self.template = ClickHouseStore(self._dsn, "drill_log")
        self.template.migrate()
        retention = default_retention()
        events = []
        for tenant, seq, prev, digest, schema, record in rows:
            del tenant
            row = row_from_chained({"event": record, "seq": seq, "prev_hash": prev, "hash": digest,
                                    "link_schema": schema}, 0, seq)
            events.append([*row, retention.days_for(record["compliance_tags"]), 0])
        self.template.insert("events", events, (*INSERT_COLUMNS, "retention_days", "legal_hold"))
        self.template.insert("checkpoints", [row_from_checkpoint(
            {"tenant_id": c.tenant_id, "first_seq": c.first_seq, "last_seq": c.last_seq, "head_hash": c.head_hash,
             "merkle_root": c.merkle_root, "created_at_us": c.created_at_us, "key_id": c.key_id,
             "signature": c.signature, "note": ""}, 0, k) for k, c in enumerate(cps)], CHECKPOINT_COLUMNS)
        self._period = self._days()

    def _days(self) -> tuple[dt.date, dt.date]:
        [(first, last)] = self.template.query(
            f"SELECT min(toDate(timestamp)), max(toDate(timestamp)) FROM {self.template.database}.events").result_rows
        return first, last

    def close(self) -> None:
        self.template.close()
        self._folder.cleanup()

    @contextmanager
    def copy(self) -> Iterator[ClickHouseStore]:
        store = ClickHouseStore(self._dsn, f"drill_{uuid.uuid4().hex[:8]}")
        store.migrate()
        for table in ("events", "checkpoints"):
            store.command(f"INSERT INTO {store.database}.{table} SELECT * FROM {self.template.database}.{table}")
        try:
            yield store
        finally:
            store.command(f"DROP DATABASE IF EXISTS {store.database}")

    def alarms(self, store: ClickHouseStore, tenant: str) -> bool:
        """What an operator sees: verify's findings, or a compliance summary that does not say VERIFIED."""
        if verify_all(store, public_keys=self._keys).findings:
            return True
        report = compliance_summary.build(store, tenant, *self._period, public_keys=self._keys)
        return bool(report.data["chain"]["status"] != "VERIFIED")

    def clean_alarms(self) -> int:
        """Alarms on an untouched copy, and on one with an identical twin (benign: reported, counted once)."""
        tenant = self._rows[0][0]
        alarms = 0
        with self.copy() as store:
            alarms += self.alarms(store, tenant)
            db = store.database
            store.command(f"INSERT INTO {db}.events SELECT * FROM {db}.events WHERE tenant_id = '{tenant}' "
                          "AND seq = 3")
            alarms += self.alarms(store, tenant)
        return alarms

    def trial(self, rng: random.Random) -> tuple[str, bool]:
        kind = rng.choice(KINDS)
        tenant, seq = rng.choice(self._rows)[:2]
        with self.copy() as store:
            db = store.database
            where = f"tenant_id = '{tenant}' AND seq = {seq}"
            if kind in ("twin_other_partition", "twin_final_picks"):
                # the same (tenant, seq) with another outcome: in another month, or inserted last for FINAL
                shift = "ingested_at - INTERVAL 90 DAY" if kind == "twin_other_partition" else "ingested_at"
                columns = [c for c in _columns(store) if c not in ("ingested_at", "decision_outcome")]
                store.command(f"INSERT INTO {db}.events ({', '.join(columns)}, ingested_at, decision_outcome) "
                              f"SELECT {', '.join(columns)}, {shift}, 'approved-by-forger' FROM {db}.events "
                              f"WHERE {where}")
            elif kind == "map_key_twice":
                store.command(f"ALTER TABLE {db}.events UPDATE metadata = CAST((arrayConcat(['loan_amount'], "
                              "mapKeys(metadata), ['loan_amount']), arrayConcat(['999999'], mapValues(metadata), "
                              f"['1'])), 'Map(String, String)') WHERE {where} SETTINGS mutations_sync = 2")
            elif kind == "hold_flag_changed":
                store.command(f"ALTER TABLE {db}.events UPDATE legal_hold = 1 - legal_hold WHERE {where} "
                              "SETTINGS mutations_sync = 2")
            elif kind == "retention_changed":
                store.command(f"ALTER TABLE {db}.events UPDATE retention_days = {rng.choice([1, 30, 36500])} "
                              f"WHERE {where} SETTINGS mutations_sync = 2")
            elif kind == "forged_verification_row":
                # a broken chain, and a row saying the last verification found nothing
                store.command(f"ALTER TABLE {db}.events UPDATE decision_outcome = 'approved-by-forger' "
                              f"WHERE {where} SETTINGS mutations_sync = 2")
                store.insert("verifications", [[tenant, dt.datetime.now(dt.UTC) + dt.timedelta(days=1), 1, seq, seq,
                                                bytes(32), 1, None]],
                             ["tenant_id", "verified_at", "ok", "links", "last_seq", "head_hash",
                              "checkpoints_verified", "finding"])
                return kind, self._report_alarms(store, tenant)
            else:  # forged_aggregate
                [(day, action, risk)] = store.query(
                    f"SELECT day, action, risk_level FROM {db}.events_daily WHERE tenant_id = '{tenant}' "
                    "LIMIT 1").result_rows
                store.insert("events_daily", [[tenant, day, "loan_underwriting", "openai", "gpt-4o-mini", action,
                                               risk, rng.randint(1, 500)]],
                             ["tenant_id", "day", "decision_type", "provider", "model", "action", "risk_level",
                              "events"])
                return kind, self._report_alarms(store, tenant)
            return kind, self.alarms(store, tenant)

    def _report_alarms(self, store: ClickHouseStore, tenant: str) -> bool:
        """Only the report, as an auditor handed it sees it (verify itself is not what these forge)."""
        report = compliance_summary.build(store, tenant, *self._period, public_keys=self._keys)
        return bool(report.data["chain"]["status"] != "VERIFIED")


def _columns(store: ClickHouseStore) -> list[str]:
    return [name for (name,) in store.query(
        "SELECT name FROM system.columns WHERE database = {db:String} AND table = 'events' "
        "AND default_kind NOT IN ('MATERIALIZED', 'ALIAS') ORDER BY position",
        parameters={"db": store.database}).result_rows]
