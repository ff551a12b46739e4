"""One set of migration files for one server and for a cluster (pure: text in, statements out).

Migration files are written for a single server, with `{db}` for the database. On a cluster
(`AUDIT_LAYER_CLICKHOUSE_CLUSTER=name`) the same text is rewritten:
  - every statement runs `ON CLUSTER name`;
  - a storage table `{db}.T` becomes `{db}.T_local` on a Replicated* engine (Keeper keeps the
    replicas identical and deduplicates retried inserts across them);
  - after its CREATE, a `Distributed` table `{db}.T` over the shards, sharded by tenant so a
    tenant's chain lives on one shard, takes the name readers and writers use.
Views keep their names; a materialized view reads and writes the local tables of its shard.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CREATE_TABLE = re.compile(r"CREATE TABLE IF NOT EXISTS \{db\}\.(\w+)")
_ENGINE = re.compile(r"ENGINE\s*=\s*(Replacing|Aggregating|Summing)?MergeTree(\(\))?")
_DEDUP_WINDOW = re.compile(r"non_replicated_deduplication_window")
_DB_TABLE = re.compile(r"\{db\}\.(\w+)")
_VIEW = re.compile(r"CREATE MATERIALIZED VIEW IF NOT EXISTS \{db\}\.(\w+)")
_DROP = re.compile(r"^DROP (TABLE|VIEW) IF EXISTS \{db\}\.(\w+)$")
_DDL_HEAD = re.compile(r"^\s*(CREATE|ALTER|DROP|RENAME|TRUNCATE)\b[^(]*?\{db\}\.\w+", re.S)


class TopologyError(ValueError):
    pass


def split_statements(text: str) -> list[str]:
    """The statements of a migration file: separated by `;` at a line end, comment lines dropped."""
    statements = []
    for chunk in re.split(r";\s*\n", text):
        body = "\n".join(line for line in chunk.splitlines() if not line.strip().startswith("--")).strip()
        if body.rstrip(";"):
            statements.append(body.rstrip(";"))
    return statements


@dataclass(frozen=True)
class Topology:
    """`cluster=None`: one server (or the embedded engine); else the name of a configured cluster."""

    cluster: str | None = None

    def __post_init__(self) -> None:
        if self.cluster is not None and not _IDENTIFIER.match(self.cluster):
            raise TopologyError(f"cluster name {self.cluster!r} is not a plain identifier")

    def render(self, text: str, database: str) -> list[str]:
        statements = split_statements(text)
        if self.cluster is None:
            return [s.replace("{db}", database) for s in statements]
        out: list[str] = []
        for statement in statements:
            out.extend(self._clustered(statement, database))
        return out

    def _clustered(self, statement: str, database: str) -> list[str]:
        cluster = self.cluster
        if statement.startswith("CREATE DATABASE"):
            return [statement.replace("{db}", database) + f" ON CLUSTER {cluster}"]
        if statement.lstrip().upper().startswith("INSERT"):
            return [statement.replace("{db}", database)]  # a backfill goes through the distributed tables
        drop = _DROP.match(statement.strip())
        if drop:  # a view keeps its name; a table is its distributed table and its local tables
            kind, name = drop.groups()
            names = [name] if kind == "VIEW" else [name, self._local(name)]
            return [f"DROP {kind} IF EXISTS {database}.{n} ON CLUSTER {cluster} SYNC" for n in names]
        view = _VIEW.search(statement)
        created = _CREATE_TABLE.search(statement)
        local = _DB_TABLE.sub(lambda m: "{db}." + self._local(m.group(1)), statement)
        if view:  # the view itself keeps its name; what it reads and writes is local
            local = local.replace("{db}." + self._local(view.group(1)), "{db}." + view.group(1), 1)
        local = _ENGINE.sub(self._replicated, local)
        local = _DEDUP_WINDOW.sub("replicated_deduplication_window", local)
        local = self._on_cluster(local)
        result = [local.replace("{db}", database)]
        if statement.startswith("ALTER TABLE") and re.search(r"\b(ADD|DROP) COLUMN\b", statement):
            # the distributed table's columns follow; codecs, indexes and TTL belong to storage only
            result.append(self._on_cluster(statement).replace("{db}", database))
        if created and not view:
            table = created.group(1)
            result.append(
                f"CREATE TABLE IF NOT EXISTS {database}.{table} ON CLUSTER {cluster} AS {database}.{table}_local "
                f"ENGINE = Distributed({cluster}, {database}, {table}_local, cityHash64(tenant_id))"
                if table != "schema_migrations" else
                f"CREATE TABLE IF NOT EXISTS {database}.{table} ON CLUSTER {cluster} AS {database}.{table}_local "
                f"ENGINE = Distributed({cluster}, {database}, {table}_local)")
        return result

    @staticmethod
    def _local(table: str) -> str:
        return f"{table}_local"

    @staticmethod
    def _replicated(match: re.Match[str]) -> str:
        kind = match.group(1) or ""
        path = "/clickhouse/tables/{shard}/{database}/{table}"  # macros the servers expand
        return f"ENGINE = Replicated{kind}MergeTree('{path}', '{{replica}}')"

    def _on_cluster(self, statement: str) -> str:
        head = _DDL_HEAD.match(statement)
        if head is None:
            return statement  # INSERT ... SELECT backfills run where they are sent
        end = head.end()
        return f"{statement[:end]} ON CLUSTER {self.cluster}{statement[end:]}"
