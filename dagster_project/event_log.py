"""Cheaper writes to the SQLite Dagster instance of the embedded default.

Dagster's SQLite event log opens a new connection for every event it stores (no pool), in WAL mode with SQLite's
default `synchronous=FULL`. Each of those connections is the only one to its file, so closing it checkpoints the
WAL into the database and deletes it: every event costs several fsyncs. Asset and check events are written twice
more, into the cross-run `index.db`. On the sample pipeline (about 2,800 events, two thirds of the transactions in
`index.db`) those commits and closes took about a quarter of `make run`'s wall time in one profile on a busy
disk; holding `index.db` open halves the fsyncs of a run.

Two parts, both leaving the databases, the events and the files exactly as Dagster's own storage writes them:

`LocalEventLogStorage` (the event log of `deploy/local/dagster.yaml`, so of `make run`, `make ui` and the runs
the daemon launches) is Dagster's `SqliteEventLogStorage` with the per-event Python overhead taken out. In one
profile of `make run` a third of the runner's own CPU time went to SQLAlchemy: for every event Dagster builds a
new engine (`create_engine`, dialect set-up on first connect), and for every asset check event it asks SQLite
again whether the check tables exist, with yet another engine. This class keeps one engine per database file
(a bounded number, connections still opened and closed per transaction: no pool, so nothing is held open and
other processes see each write as before), remembers tables once they exist, and opens its connections with
`synchronous=NORMAL`. In WAL mode that is SQLite's documented setting for "durable across application
crashes": a killed process (SIGKILL, OOM, Ctrl-C) loses nothing it committed; only an OS crash or power cut may
lose the last transactions, never corrupting the database.

`faster_event_log(instance)`, while `python -m dagster_project run` materialises:
- holds one idle connection to `index.db`, so the per-event connections are no longer the last one and do not
  checkpoint on close (SQLite's auto-checkpoint still folds the WAL back every 1,000 pages; closing the held
  connection at the end checkpoints the rest). Run shards (`<run_id>.db`) are left as they are: the webserver
  follows a live run by watching that very file change, which a held connection would postpone to the end;
- on an instance configured with Dagster's plain `SqliteEventLogStorage` (a `dagster.yaml` of the user's own),
  sets `synchronous=NORMAL` on the connections this process opens to its databases, as above.

Any other event log storage (Postgres, the cluster profile's) is left alone.
"""

import contextlib
import logging
import os
import sqlite3
from collections.abc import Iterator

import dagster as dg
from dagster._core.storage.event_log import SqliteEventLogStorage
from dagster._core.storage.sql import create_engine
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from sqlalchemy import event
from sqlalchemy.pool import NullPool, Pool

log = logging.getLogger(__name__)

# Engines kept by one LocalEventLogStorage: the index, the run being written, and the runs a webserver shows.
MAX_ENGINES = 32


def _synchronous_normal(dbapi_connection, _record) -> None:
    dbapi_connection.execute("pragma synchronous=NORMAL")


class LocalEventLogStorage(SqliteEventLogStorage):
    """Dagster's SQLite event log (one database per run plus `index.db`, same schema and files) with one engine
    per database file instead of one per event, the check tables' existence remembered, and `synchronous=NORMAL`
    (see the module docstring). `base_dir` defaults to where Dagster's default storage keeps the event logs,
    `$DAGSTER_HOME/history/runs/`, so an instance switched to it keeps its history."""

    def __init__(self, base_dir: str, inst_data=None):
        self._engines: dict[str, object] = {}
        self._tables: set[str] = set()
        super().__init__(base_dir, inst_data=inst_data)

    @classmethod
    def config_type(cls):
        return {"base_dir": dg.Field(dg.StringSource, is_required=False)}

    @classmethod
    def from_config_value(cls, inst_data, config_value) -> "LocalEventLogStorage":
        from dagster_project import settings

        base_dir = config_value.get("base_dir") or os.path.join(
            settings.dagster_home(), "history", "runs", ""
        )
        return cls(base_dir=base_dir, inst_data=inst_data)

    def _engine(self, shard: str):
        """The engine of one database file, created once (callers hold `_db_lock`)."""
        engine = self._engines.pop(shard, None)
        if engine is None:
            engine = create_engine(
                self.conn_string_for_shard(shard),
                poolclass=NullPool,
                connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS},
            )
            event.listen(engine, "connect", _synchronous_normal)
            if (
                len(self._engines) >= MAX_ENGINES
            ):  # the least recently used one goes (NullPool: nothing to close)
                self._engines.pop(next(iter(self._engines))).dispose()
        self._engines[shard] = engine  # most recently used last
        return engine

    @contextlib.contextmanager
    def _connect(self, shard: str):
        # Dagster's `_connect`, with the engine reused: a new connection and transaction per call, as before.
        with self._db_lock:
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    def has_table(self, table_name: str) -> bool:
        # Asked for every asset check event; a table, once created, stays.
        if table_name in self._tables:
            return True
        found = super().has_table(table_name)
        if found:
            self._tables.add(table_name)
        return found

    def dispose(self) -> None:
        super().dispose()
        with self._db_lock:
            for engine in self._engines.values():
                engine.dispose()
            self._engines.clear()


def _sqlite_storage(instance: dg.DagsterInstance):
    storage = instance.event_log_storage
    return storage if isinstance(storage, SqliteEventLogStorage) else None


@contextlib.contextmanager
def faster_event_log(instance: dg.DagsterInstance) -> Iterator[None]:
    storage = _sqlite_storage(instance)
    if storage is None:
        yield
        return
    index_path = storage.path_for_shard("index")
    base_dir = os.path.dirname(index_path) + os.sep

    def on_connect(dbapi_connection, _record) -> None:
        if not isinstance(dbapi_connection, sqlite3.Connection):
            return
        files = [row[2] for row in dbapi_connection.execute("pragma database_list").fetchall()]
        if any(f and f.startswith(base_dir) for f in files):
            dbapi_connection.execute("pragma synchronous=NORMAL")

    # LocalEventLogStorage sets it on its own connections, without this per-connection query
    plain = not isinstance(storage, LocalEventLogStorage)
    if plain:
        event.listen(Pool, "connect", on_connect)
    keeper = None
    try:
        if os.path.exists(index_path):
            keeper = sqlite3.connect(index_path, timeout=30, check_same_thread=False)
            # A read opens the WAL and its shared-memory index; the connection then holds them open, idle, with no
            # transaction (so it never blocks a writer or a checkpoint).
            keeper.execute("select count(*) from sqlite_master").fetchall()
    except sqlite3.Error as exc:  # an optimisation only: never fail a run because of it
        log.debug("could not hold %s open: %s", index_path, exc)
        keeper = None
    try:
        yield
    finally:
        if plain:
            event.remove(Pool, "connect", on_connect)
        if keeper is not None:
            with contextlib.suppress(sqlite3.Error):
                keeper.close()
