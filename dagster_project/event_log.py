"""Cheaper writes to a SQLite Dagster instance while `python -m dagster_project run` materialises.

Dagster's SQLite event log (one database per run plus the cross-run `index.db`) pays for every event it stores:
- it builds a new SQLAlchemy engine for the event (`create_engine`, and the dialect's set-up on its first
  connection), connects, commits and throws the engine away; for every asset check event it also asks SQLite
  whether the check tables exist, with yet another engine. In one profile of `make run` (about 2,800 events, 650
  of them dbt tests' check results) that was a third of the runner's own CPU time;
- it opens each connection in WAL mode with SQLite's default `synchronous=FULL`, and each of those connections is
  the only one to its file, so closing it checkpoints the WAL into the database and deletes it: several fsyncs
  per event. Asset and check events are written twice more, into `index.db`.

While a run is materialised, `faster_event_log(instance)`:
- keeps one engine per database file, and remembers the check tables once they exist. Connections are pooled:
  opening one (the file, its schema, the pragma below) and closing it is paid once per database, not per event.
  A pooled connection holds no lock between transactions, so other processes see each write as they did;
- opens those connections with `synchronous=NORMAL`. In WAL mode that is SQLite's documented setting for
  "durable across application crashes": a killed process (SIGKILL, OOM, Ctrl-C) loses nothing it committed; only
  an OS crash or power cut may lose the last transactions, never corrupting the database;
- so no event's connection is the last one to close: none checkpoints the WAL into the database on close (two
  fsyncs, and the WAL files created and deleted: about 2 ms per event, measured, for the ~3,000 events of
  `make run`). SQLite's auto-checkpoint still folds a WAL back every 1,000 pages; a run's connection closes (and
  checkpoints) when the next run starts, the index's when the context ends;
- touches a run's database file (its modification time) after each transaction that wrote to it. The webserver
  follows a live run by watching that file (`SqliteEventLogStorageWatchdog`), which a write to the WAL alone
  would not change until the checkpoint: the touch is what each event's checkpoint did for it before.

Nothing else changes: same databases, same events, same files, written through Dagster's own statements; the
webserver and the daemon read them as before and are not touched (they keep Dagster's storage as configured).
Only this process's storage object is changed, and only inside the context. Any other event log storage
(Postgres, the cluster profile's) is left alone.
"""

import contextlib
import os
from collections.abc import Iterator

import dagster as dg
from dagster._core.storage.event_log import SqliteEventLogStorage
from dagster._core.storage.event_log.sqlite.sqlite_event_log import INDEX_SHARD_NAME
from dagster._core.storage.sql import create_engine
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from sqlalchemy import event
from sqlalchemy.pool import QueuePool


def _sqlite_storage(instance: dg.DagsterInstance) -> SqliteEventLogStorage | None:
    storage = instance.event_log_storage
    return storage if isinstance(storage, SqliteEventLogStorage) else None


def _synchronous_normal(dbapi_connection, _record) -> None:
    dbapi_connection.execute("pragma synchronous=NORMAL")


@contextlib.contextmanager
def faster_event_log(instance: dg.DagsterInstance) -> Iterator[dict]:
    """See the module docstring. Yields the engines it keeps, by database (shard) name."""
    engines: dict[str, object] = {}
    storage = _sqlite_storage(instance)
    if storage is None or "_connect" in vars(storage):  # not SQLite, or already inside this context
        yield engines
        return
    tables: set[str] = set()
    dagster_has_table = storage.has_table
    current_shard: list[str | None] = [None]

    @contextlib.contextmanager
    def connect(shard: str):
        # Dagster's SqliteEventLogStorage._connect with the engine kept: a new transaction per call, as there (on
        # a new connection for a run shard, on the pooled one for the index).
        with storage._db_lock:
            engine = engines.get(shard)
            if engine is None:
                engine = create_engine(
                    storage.conn_string_for_shard(shard),
                    poolclass=QueuePool,  # pooled connections, kept open (see the module docstring)
                    pool_size=1,
                    max_overflow=4,
                    connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
                )
                event.listen(engine, "connect", _synchronous_normal)
                engines[shard] = engine
            if shard != INDEX_SHARD_NAME and shard != current_shard[0]:
                # Runs go one after another: the previous run's connection closes (folding its WAL back)
                for name, other in engines.items():
                    if name not in (INDEX_SHARD_NAME, shard):
                        other.dispose()
                current_shard[0] = shard
            if shard not in storage._initialized_dbs:
                storage._initdb(engine)
                storage._initialized_dbs.add(shard)
            with engine.connect() as conn:
                sqlite = conn.connection.dbapi_connection
                changes = sqlite.total_changes
                with conn.begin():
                    yield conn
                wrote = sqlite.total_changes != changes
        if wrote and shard != INDEX_SHARD_NAME:
            # What a closing connection's checkpoint did before: tell the webserver's watcher of this run's file
            # (it follows a live run by that file's changes; a write to the WAL alone does not change it).
            with contextlib.suppress(OSError):
                os.utime(storage.path_for_shard(shard))

    def has_table(table_name: str) -> bool:
        # Asked for every asset check event; a table, once created, stays.
        if table_name in tables:
            return True
        found = dagster_has_table(table_name)
        if found:
            tables.add(table_name)
        return found

    # Instance attributes shadow the class's methods for this storage object only (run_connection,
    # index_connection and store_event call them through `self`); deleting them restores Dagster's.
    storage._connect = connect
    storage.has_table = has_table
    try:
        yield engines
    finally:
        del storage._connect
        del storage.has_table
        with storage._db_lock:
            for engine in engines.values():
                engine.dispose()
