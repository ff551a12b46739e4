"""Monthly partitions of `events` count from ingestion: the migration that rebuilds the table keeps every row,
index and materialized view, and can be run again after an interruption at any step."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from audit_layer_store.rebuild import plan
from audit_layer_store.store import ClickHouseStore, migration_files

pytestmark = pytest.mark.integration
BEFORE = "0011_retention_from_ingestion.sql"
REBUILD = "0012_events_by_ingestion.rebuild.sql"


@pytest.fixture
def old(chdb_path: str) -> Iterator[ClickHouseStore]:
    """A store as it was before the rebuild, holding rows whose client clocks spread over 50 months."""
    store = ClickHouseStore(f"chdb://{chdb_path}", f"rebuild_{uuid.uuid4().hex[:8]}")
    store.migrate(upto=BEFORE)
    store.command(f"INSERT INTO {store.database}.events (tenant_id, seq, event_id, timestamp, ingested_at, "
                  "prev_hash, hash) SELECT 'acme', number + 1, generateUUIDv4(), toDateTime64('2001-01-01 00:00:00', "
                  "6) + number * 86400 * 31, now64(6), '', '' FROM numbers(50)")
    yield store
    store.command(f"DROP DATABASE IF EXISTS {store.database}")


def _state(store: ClickHouseStore) -> tuple[str, int, int, int]:
    db = store.database
    [(key,)] = store.query(f"SELECT partition_key FROM system.tables WHERE database = '{db}' AND name = 'events'"
                           ).result_rows
    [(rows, partitions)] = store.query(f"SELECT count(), uniqExact(_partition_id) FROM {db}.events").result_rows
    [(leftover,)] = store.query(f"SELECT count() FROM system.tables WHERE database = '{db}' "
                                "AND name = 'events_rebuild'").result_rows
    return key, int(rows), int(partitions), int(leftover)


def test_the_rebuild_keeps_rows_indexes_and_views(old: ClickHouseStore) -> None:
    db = old.database
    assert _state(old) == ("toYYYYMM(timestamp)", 50, 50, 0)
    assert old.migrate(upto=REBUILD) == [REBUILD]
    assert _state(old) == ("toYYYYMM(ingested_at)", 50, 1, 0)
    indexes = {n for (n,) in old.query(f"SELECT name FROM system.data_skipping_indices WHERE database = '{db}' "
                                       "AND table = 'events'").result_rows}
    assert indexes == {"idx_event_id", "idx_user_id", "idx_session_id", "idx_timestamp", "idx_risk_level"}
    # the daily aggregates' view feeds from the new table
    old.command(f"INSERT INTO {db}.events (tenant_id, seq, event_id, timestamp, ingested_at, prev_hash, hash) "
                "VALUES ('acme', 51, generateUUIDv4(), now64(6), now64(6), '', '')")
    assert old.query(f"SELECT sum(events) FROM {db}.events_daily").result_rows == [(51,)]
    assert old.migrate(upto=REBUILD) == []


def test_an_interrupted_copy_is_made_again(old: ClickHouseStore) -> None:
    [text] = [f.read_text() for f in migration_files() if f.name == REBUILD]
    rebuild = plan(text, old.topology, old.database)
    for statement in rebuild.create:  # a run stopped half-way through the copy
        old.command(statement)
    old.command(f"{rebuild.copy} WHERE seq <= 20")
    old.migrate()
    assert _state(old) == ("toYYYYMM(ingested_at)", 50, 1, 0)


def test_a_run_interrupted_after_the_swap_is_not_swapped_back(old: ClickHouseStore) -> None:
    db = old.database
    [text] = [f.read_text() for f in migration_files() if f.name == REBUILD]
    rebuild = plan(text, old.topology, db)
    for statement in rebuild.create:
        old.command(statement)
    old.command(rebuild.copy)
    for statement in rebuild.swap:  # stopped here: the old table is left under the copy's name
        old.command(statement)
    assert _state(old) == ("toYYYYMM(ingested_at)", 50, 1, 1)
    old.migrate()
    assert _state(old) == ("toYYYYMM(ingested_at)", 50, 1, 0)
