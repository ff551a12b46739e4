"""The migrations rendered for a cluster: replicated local tables behind distributed ones."""

from __future__ import annotations

import re

import pytest
from audit_layer_store.store import migration_files
from audit_layer_store.topology import Topology, TopologyError


def _all(topology: Topology) -> list[str]:
    return [s for f in migration_files() for s in topology.render(f.read_text(), "audit")]


def test_single_server_rendering_is_the_files_as_written() -> None:
    statements = _all(Topology())
    assert not any("ON CLUSTER" in s or "_local" in s or "Replicated" in s for s in statements)
    assert any(s.startswith("CREATE TABLE IF NOT EXISTS audit.events\n") for s in statements)


def test_cluster_rendering_replicates_every_table_and_distributes_the_names_readers_use() -> None:
    statements = _all(Topology("audit"))
    ddl = [s for s in statements if not s.startswith("INSERT")]
    assert all(" ON CLUSTER audit" in s for s in ddl)
    engines = re.findall(r"ENGINE = (\w+)", "\n".join(statements))
    assert "ReplacingMergeTree" not in engines and "AggregatingMergeTree" not in engines and "MergeTree" not in engines
    assert {"ReplicatedReplacingMergeTree", "ReplicatedAggregatingMergeTree", "ReplicatedMergeTree",
            "Distributed"} <= set(engines)
    for table in ("events", "checkpoints", "events_daily", "events_daily_tags", "legal_holds", "verifications"):
        assert any(s.startswith(f"CREATE TABLE IF NOT EXISTS audit.{table}_local ON CLUSTER audit") for s in ddl)
        distributed = [s for s in ddl if s.startswith(f"CREATE TABLE IF NOT EXISTS audit.{table} ON CLUSTER")]
        assert len(distributed) == 1 and f"Distributed(audit, audit, {table}_local" in distributed[0]
    # a view reads and writes its shard's local tables and keeps its own name
    [view] = [s for s in ddl if "events_daily_mv" in s]
    assert "audit.events_daily_mv ON CLUSTER audit TO audit.events_daily_local" in view
    assert "FROM audit.events_local" in view
    # column changes reach the distributed table too; index and TTL changes only the storage
    assert any(s.startswith("ALTER TABLE audit.events ON CLUSTER audit ADD COLUMN IF NOT EXISTS retention_days")
               for s in ddl)
    assert not any(s.startswith("ALTER TABLE audit.events ON CLUSTER audit ADD INDEX") for s in ddl)
    assert any("replicated_deduplication_window" in s for s in ddl)
    # backfills go through the distributed tables
    assert all("_local" not in s for s in statements if s.startswith("INSERT"))


def test_a_cluster_name_must_be_an_identifier() -> None:
    with pytest.raises(TopologyError):
        Topology("audit; DROP TABLE x")


def test_dropping_a_view_keeps_its_name_and_a_table_goes_with_its_local_tables() -> None:
    statements = Topology("audit_cluster").render(
        "DROP VIEW IF EXISTS {db}.event_ids_mv;\nDROP TABLE IF EXISTS {db}.event_ids\n", "audit")
    assert statements == [
        "DROP VIEW IF EXISTS audit.event_ids_mv ON CLUSTER audit_cluster SYNC",
        "DROP TABLE IF EXISTS audit.event_ids ON CLUSTER audit_cluster SYNC",
        "DROP TABLE IF EXISTS audit.event_ids_local ON CLUSTER audit_cluster SYNC",
    ]
    assert Topology().render("DROP TABLE IF EXISTS {db}.event_ids\n", "audit") == [
        "DROP TABLE IF EXISTS audit.event_ids"]


def test_a_partition_key_rebuild_on_one_server_and_on_a_cluster() -> None:
    from audit_layer_store.rebuild import RebuildError, plan

    [text] = [f.read_text() for f in migration_files() if f.name.endswith(".rebuild.sql")]
    single = plan(text, Topology(), "audit")
    assert (single.table, single.storage, single.partition_key) == ("events", "events", "toYYYYMM(ingested_at)")
    assert single.create[0].startswith("CREATE TABLE IF NOT EXISTS audit.events_rebuild AS audit.events\n")
    assert single.copy == "INSERT INTO audit.events_rebuild SELECT * FROM audit.events"
    assert single.swap == ("EXCHANGE TABLES audit.events AND audit.events_rebuild",)
    assert single.drop_copy == ("DROP TABLE IF EXISTS audit.events_rebuild",)
    clustered = plan(text, Topology("c1"), "audit")
    assert clustered.storage == "events_local"
    # the copy is replicated beside the storage table, behind a distributed table of its own
    assert clustered.create[0].startswith("CREATE TABLE IF NOT EXISTS audit.events_rebuild_local ON CLUSTER c1 "
                                          "AS audit.events_local")
    assert "ReplicatedReplacingMergeTree" in clustered.create[0]
    assert "Distributed(c1, audit, events_rebuild_local" in clustered.create[1]
    assert clustered.swap == ("EXCHANGE TABLES audit.events_local AND audit.events_rebuild_local ON CLUSTER c1",)
    assert clustered.drop_copy == ("DROP TABLE IF EXISTS audit.events_rebuild ON CLUSTER c1 SYNC",
                                   "DROP TABLE IF EXISTS audit.events_rebuild_local ON CLUSTER c1 SYNC")
    with pytest.raises(RebuildError):
        plan("CREATE TABLE IF NOT EXISTS {db}.other_rebuild AS {db}.events\nPARTITION BY x\n", Topology(), "audit")
