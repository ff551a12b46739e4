"""Changing a table's partition key, which ClickHouse cannot ALTER (pure: text in, statements out).

A `*.rebuild.sql` migration holds one statement, `CREATE TABLE IF NOT EXISTS {db}.T_rebuild AS {db}.T ...`
with the new key. The store fills that copy with every row of T, checks the counts, swaps the two names
with EXCHANGE TABLES (materialized views follow the name, so they feed the new table) and drops the old
one. Every step can be run again after an interruption: a table already on the new key is left alone and a
leftover copy dropped; a copy is always made afresh, and never swapped in unless it holds every row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from audit_layer_store.topology import Topology, split_statements

_CREATE = re.compile(r"CREATE TABLE IF NOT EXISTS \{db\}\.(\w+)_rebuild AS \{db\}\.(\w+)\b")
_PARTITION_BY = re.compile(r"^PARTITION BY (.+)$", re.M)


class RebuildError(ValueError):
    pass


@dataclass(frozen=True)
class Rebuild:
    table: str  # the name readers and writers use
    storage: str  # the table holding the rows: `table`, or its local table on a cluster
    partition_key: str  # as system.tables shows it
    create: tuple[str, ...]
    copy: str
    swap: tuple[str, ...]
    drop_copy: tuple[str, ...]


def plan(text: str, topology: Topology, database: str) -> Rebuild:
    statements = split_statements(text)
    match = _CREATE.search(statements[0]) if len(statements) == 1 else None
    key = _PARTITION_BY.search(statements[0]) if statements else None
    if match is None or key is None or match.group(1) != match.group(2):
        raise RebuildError("a rebuild migration is one `CREATE TABLE IF NOT EXISTS {db}.T_rebuild AS {db}.T` "
                           "statement with a PARTITION BY line")
    table = match.group(1)
    copy = f"{table}_rebuild"
    local = (lambda name: name) if topology.cluster is None else (lambda name: f"{name}_local")
    on_cluster = "" if topology.cluster is None else f" ON CLUSTER {topology.cluster}"
    return Rebuild(
        table=table, storage=local(table), partition_key=key.group(1).strip(),
        create=tuple(topology.render(text, database)),
        copy=f"INSERT INTO {database}.{copy} SELECT * FROM {database}.{table}",
        swap=(f"EXCHANGE TABLES {database}.{local(table)} AND {database}.{local(copy)}{on_cluster}",),
        drop_copy=tuple(topology.render(f"DROP TABLE IF EXISTS {{db}}.{copy}", database)))
