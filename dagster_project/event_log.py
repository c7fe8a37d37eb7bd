"""Cheaper writes to a SQLite Dagster instance while `python -m dagster_project run` materialises.

Dagster's SQLite event log opens a new connection for every event it stores (no pool), in WAL mode with SQLite's
default `synchronous=FULL`. Each of those connections is the only one to its file, so closing it checkpoints the
WAL into the database and deletes it: every event costs several fsyncs. Asset and check events are written twice
more, into the cross-run `index.db`. On the sample pipeline (about 2,800 events, two thirds of the transactions in
`index.db`) those commits and closes took about a quarter of `make run`'s wall time in one profile on a busy
disk; holding `index.db` open halves the fsyncs of a run.

While a run is materialised, `faster_event_log(instance)`:
- holds one idle connection to `index.db`, so the per-event connections are no longer the last one and do not
  checkpoint on close (SQLite's auto-checkpoint still folds the WAL back every 1,000 pages; closing the held
  connection at the end checkpoints the rest). Run shards (`<run_id>.db`) are left as they are: the webserver
  follows a live run by watching that very file change, which a held connection would postpone to the end;
- sets `synchronous=NORMAL` on the connections this process opens to the instance's event log databases. In WAL
  mode that is SQLite's documented setting for "durable across application crashes": a killed process (SIGKILL,
  OOM, Ctrl-C) loses nothing it committed; only an OS crash or power cut may lose the last transactions, never
  corrupting the database.

Nothing else changes: same databases, same events, same files; other processes (the webserver, the daemon) read
them as before. Any other event log storage (Postgres, the cluster profile's) is left alone.
"""

import contextlib
import logging
import os
import sqlite3
from collections.abc import Iterator

import dagster as dg

log = logging.getLogger(__name__)


def _sqlite_storage(instance: dg.DagsterInstance):
    from dagster._core.storage.event_log import SqliteEventLogStorage

    storage = instance.event_log_storage
    return storage if isinstance(storage, SqliteEventLogStorage) else None


@contextlib.contextmanager
def faster_event_log(instance: dg.DagsterInstance) -> Iterator[None]:
    storage = _sqlite_storage(instance)
    if storage is None:
        yield
        return
    from sqlalchemy import event
    from sqlalchemy.pool import Pool

    index_path = storage.path_for_shard("index")
    base_dir = os.path.dirname(index_path) + os.sep

    def on_connect(dbapi_connection, _record) -> None:
        if not isinstance(dbapi_connection, sqlite3.Connection):
            return
        files = [row[2] for row in dbapi_connection.execute("pragma database_list").fetchall()]
        if any(f and f.startswith(base_dir) for f in files):
            dbapi_connection.execute("pragma synchronous=NORMAL")

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
        event.remove(Pool, "connect", on_connect)
        if keeper is not None:
            with contextlib.suppress(sqlite3.Error):
                keeper.close()
