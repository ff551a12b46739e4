"""ClickHouse access through clickhouse-connect: `chdb:///path` (embedded engine) or `http://host:8123`.

In the embedded mode one process owns the engine; every caller in that process shares this
store, whose lock serialises statements on the engine. A long-running owner (`serve=True`)
serves the engine to other processes (see engine_server.py); a store opened on a path that
another process serves connects to it instead of opening the engine.
"""

from __future__ import annotations

import importlib.util
import os
import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import clickhouse_connect
from clickhouse_connect.driver.client import Client

from audit_layer_store.engine_server import EngineServer, read_owner
from audit_layer_store.rebuild import Rebuild, plan
from audit_layer_store.topology import Topology, TopologyError

DEFAULT_DATABASE = "audit"
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def default_dsn() -> str:
    """AUDIT_LAYER_CLICKHOUSE_DSN, else the embedded engine under ./data/clickhouse."""
    return os.environ.get("AUDIT_LAYER_CLICKHOUSE_DSN") or "chdb://" + str(Path("data/clickhouse").resolve())


class StoreError(RuntimeError):
    pass


# The embedded engine runs as a user that can do what the pipeline does and nothing that touches files
# outside its data path: no file()/url()/remote() or other source, no File engine, no dictionaries (a
# FILE source reads any path), no backups. An SQL user of `audit-layer query` can neither read a signing
# key nor plant a trusted one. (chDB, like clickhouse-local, does not confine file() to user_files_path.)
ENGINE_GRANTS = ("SHOW, SELECT, INSERT, ALTER, CREATE DATABASE, CREATE TABLE, CREATE VIEW, CREATE FUNCTION, "
                 "DROP, TRUNCATE, OPTIMIZE, SYSTEM, KILL QUERY")
_ENGINE_CONFIG = """<clickhouse>
  <user_files_path>{user_files}/</user_files_path>
  <user_directories><users_xml><path>{users}</path></users_xml></user_directories>
</clickhouse>
"""
_ENGINE_USERS = """<clickhouse>
  <users><default>
    <password></password>
    <networks><ip>::1</ip><ip>127.0.0.1</ip></networks>
    <profile>default</profile><quota>default</quota>
    <grants><query>GRANT {grants} ON *.*</query></grants>
  </default></users>
  <profiles><default/></profiles>
  <quotas><default/></quotas>
</clickhouse>
"""


def engine_config(data_path: Path) -> Path:
    """The embedded engine's configuration, written beside (not inside) its data path; returns the file."""
    folder = data_path.with_name(data_path.name + ".engine")
    user_files = folder / "user_files"  # dedicated and empty
    user_files.mkdir(parents=True, exist_ok=True)
    users = folder / "users.xml"
    users.write_text(_ENGINE_USERS.format(grants=ENGINE_GRANTS))
    config = folder / "config.xml"
    config.write_text(_ENGINE_CONFIG.format(user_files=user_files.resolve(), users=users.resolve()))
    return config


_BOOKKEEPING = """CREATE DATABASE IF NOT EXISTS {db};
CREATE TABLE IF NOT EXISTS {db}.schema_migrations (name String, applied_at DateTime DEFAULT now())
ENGINE = ReplacingMergeTree ORDER BY name
"""


def migration_files() -> list[Traversable]:
    folder = resources.files("audit_layer_store") / "migrations"
    return sorted((e for e in folder.iterdir() if e.name.endswith(".sql")), key=lambda e: e.name)


def topology_from_env() -> Topology:
    """AUDIT_LAYER_CLICKHOUSE_CLUSTER names the cluster the schema is replicated over; unset: one server."""
    return Topology(os.environ.get("AUDIT_LAYER_CLICKHOUSE_CLUSTER") or None)


def _cause(exc: Exception) -> str:
    """The reason in a few words: clickhouse-connect's message for a refused connection is 300 characters."""
    text = str(exc)
    if "Connection refused" in text:
        return "nothing answers there (connection refused); is the server running, and is the --dsn right?"
    if "Name or service not known" in text or "nodename nor servname" in text:
        return "the host name does not resolve; check the --dsn"
    if "timed out" in text.lower():
        return "the server did not answer in time"
    return text if len(text) <= 240 else text[:237] + "..."


class ClickHouseStore:
    def __init__(self, dsn: str | None = None, database: str = DEFAULT_DATABASE, *, serve: bool = False,
                 topology: Topology | None = None, create: bool = True) -> None:
        """`create=False`: an embedded engine path that does not exist is an error, not a new empty store
        (a reading command pointed at the wrong folder must not answer "all is well" about nothing)."""
        if not _IDENTIFIER.match(database):
            raise StoreError(f"database name {database!r} is not a plain identifier")
        try:
            self.topology = topology or topology_from_env()
        except TopologyError as exc:
            raise StoreError(str(exc)) from None
        self.dsn = dsn or default_dsn()
        self.database = database
        scheme = urlparse(self.dsn).scheme
        self.data_path: Path | None = None
        owner = None
        if scheme == "chdb":
            if importlib.util.find_spec("chdb") is None:
                raise StoreError(f"{self.dsn} is an embedded ClickHouse, whose engine (chDB) is the `embedded` "
                                 "extra: pip install 'audit-layer[embedded]', or give --dsn http://host:8123")
            path = self.dsn[len("chdb://"):]
            if path:
                self.data_path = Path(path)
                if not create and not self.data_path.exists():
                    raise StoreError(f"no embedded ClickHouse at {path}: nothing was ever stored there; give the "
                                     "--dsn the sink writes to (default chdb://./data/clickhouse, or "
                                     "$AUDIT_LAYER_CLICKHOUSE_DSN)")
                self.data_path.mkdir(parents=True, exist_ok=True)
                owner = read_owner(self.data_path)
        elif scheme not in ("http", "https"):
            raise StoreError(f"unsupported ClickHouse DSN {self.dsn!r}: use chdb:///path or http://host:8123")
        self.embedded = scheme == "chdb" and owner is None  # this process runs the engine
        self.via_owner = owner is not None
        self._lock = threading.RLock()
        self._server: EngineServer | None = None
        self._sibling: ClickHouseStore | None = None
        try:
            if owner is not None:
                self.client: Client = clickhouse_connect.get_client(
                    host=owner.host, port=owner.port, username="default", password=owner.password,
                    compress=False, send_receive_timeout=600)
            elif self.data_path is not None:
                self.client = clickhouse_connect.get_client(
                    dsn=self.dsn, chdb_options={"config-file": str(engine_config(self.data_path).resolve())})
            else:
                self.client = clickhouse_connect.get_client(dsn=self.dsn)
        except Exception as exc:
            hint = (f" (served by process {owner.pid}; is it still running?)" if owner is not None else
                    " (another process may own this embedded engine path; stop it or use its server)"
                    if self.embedded else "")
            raise StoreError(f"cannot open ClickHouse at {self.dsn}: {_cause(exc)}{hint}") from exc
        if serve and self.embedded and self.data_path is not None:
            self._server = EngineServer(self, self.data_path)
            self._server.start()

    @property
    def role(self) -> str:
        """How this process reaches the engine: `embedded-serving` (it runs the engine and serves it to other
        processes), `embedded`, `via-owner` (another process's embedded engine), or `server`."""
        if self.embedded:
            return "embedded-serving" if self._server is not None else "embedded"
        return "via-owner" if self.via_owner else "server"

    @contextmanager
    def locked(self) -> Iterator[Client]:
        with self._lock:
            yield self.client

    def command(self, sql: str) -> Any:
        with self._lock:
            return self.client.command(sql)

    def query(self, sql: str, parameters: dict[str, Any] | None = None,
              settings: dict[str, Any] | None = None) -> Any:
        with self._lock:
            return self.client.query(sql, parameters=parameters, settings=settings)

    def command_with(self, sql: str, parameters: dict[str, Any] | None = None,
                     settings: dict[str, Any] | None = None) -> Any:
        with self._lock:
            return self.client.command(sql, parameters=parameters, settings=settings)

    def mutation_target(self, table: str) -> str:
        """Where an ALTER ... UPDATE goes: the table, or on a cluster its local tables on every node."""
        if self.topology.cluster is None:
            return f"{self.database}.{table}"
        return f"{self.database}.{table}_local ON CLUSTER {self.topology.cluster}"

    def insert(self, table: str, rows: Sequence[Sequence[Any]], columns: Sequence[str],
               dedup_token: str | None = None, settings: dict[str, Any] | None = None) -> None:
        settings = {**(settings or {}), **({"insert_deduplication_token": dedup_token} if dedup_token else {})}
        with self._lock:
            self.client.insert(f"{self.database}.{table}", rows, column_names=list(columns),
                               settings=settings or None)

    def migrate(self, upto: str | None = None) -> list[str]:
        """Apply the SQL migrations not yet recorded (up to and including `upto`); returns the names
        applied. Idempotent: each file is applied once, and each statement is itself re-runnable."""
        db = self.database
        for statement in self.topology.render(_BOOKKEEPING, db):
            self.command(statement)
        done = {r[0] for r in self.query(f"SELECT name FROM {db}.schema_migrations FINAL").result_rows}
        applied = []
        for entry in migration_files():
            if upto is not None and entry.name > upto:
                break
            if entry.name in done:
                continue
            if entry.name.endswith(".rebuild.sql"):
                self._rebuild(plan(entry.read_text(), self.topology, db))
            else:
                for statement in self.topology.render(entry.read_text(), db):
                    self.command(statement)
            self.insert("schema_migrations", [[entry.name]], ["name"])
            applied.append(entry.name)
        return applied

    def _rebuild(self, rebuild: Rebuild) -> None:
        """A table moved to a new partition key (rebuild.py); safe to run again after an interruption."""
        db = self.database
        [(current,)] = self.query("SELECT partition_key FROM system.tables WHERE database = {db:String} AND "
                                  "name = {t:String}", parameters={"db": db, "t": rebuild.storage}).result_rows
        for statement in rebuild.drop_copy:  # a copy an interrupted run left: before the swap, or the old table
            self.command(statement)
        if current == rebuild.partition_key:
            return
        for statement in rebuild.create:
            self.command(statement)
        self.command(rebuild.copy)
        [(rows, copied)] = self.query(f"SELECT (SELECT count() FROM {db}.{rebuild.table}), "
                                      f"(SELECT count() FROM {db}.{rebuild.table}_rebuild)").result_rows
        if rows != copied:
            raise StoreError(f"rebuilding {db}.{rebuild.table}: the copy holds {copied} of {rows} rows (were rows "
                             "written during the migration?); nothing was swapped: run the migration again")
        for statement in rebuild.swap:
            self.command(statement)
        for statement in rebuild.drop_copy:
            self.command(statement)

    def sibling(self) -> ClickHouseStore:
        """A second client on the same engine (kept), for a read that runs beside one on this client:
        one client runs one query at a time, two clients of the embedded engine run in parallel."""
        with self._lock:
            if self._sibling is None:
                self._sibling = ClickHouseStore(self.dsn, self.database, topology=self.topology)
            return self._sibling

    def close(self) -> None:
        if self._sibling is not None:
            self._sibling.close()
            self._sibling = None
        if self._server is not None:
            self._server.stop()
            self._server = None
        with self._lock:
            self.client.close()


def open_if_served(dsn: str, database: str = DEFAULT_DATABASE) -> ClickHouseStore | None:
    """A store reaching an embedded engine through the process serving it, or None while nobody
    serves it (a watcher must never open the engine itself: it would lock out the owner's restart)."""
    if dsn.startswith("chdb://") and read_owner(Path(dsn[len("chdb://"):])) is None:
        return None
    return ClickHouseStore(dsn, database)
