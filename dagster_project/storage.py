"""The data lake: one fsspec root (local folder or s3://) that every asset reads and writes through."""

import contextlib
import errno
import io
import os
import shutil
import socket
import uuid
from collections.abc import Iterable, Iterator

import dagster as dg
import fsspec
import polars as pl
from fsspec.implementations.local import LocalFileSystem
from pydantic import PrivateAttr

from dagster_project import settings
from dagster_project.faults import pause_point

# Where local writes stage their bytes before the atomic rename (see `Lake.atomic_open`).
TMP_DIR = "_tmp"


def filesystem_for(url: str) -> tuple[fsspec.AbstractFileSystem, str]:
    """fsspec filesystem and in-filesystem path for a URL (local path, s3://, https://)."""
    fs, path = fsspec.core.url_to_fs(url)
    return fs, path


class Lake(dg.ConfigurableResource):
    """The platform's data root. `root` is an fsspec URL: a local folder by default, `s3://bucket/prefix` in a
    shared deployment (credentials and `AWS_ENDPOINT_URL` come from the standard AWS environment)."""

    root: str

    _fs_cache: tuple | None = PrivateAttr(default=None)

    @classmethod
    def from_env(cls) -> "Lake":
        return cls(root=settings.data_root())

    @property
    def _fs_and_root(self) -> tuple[fsspec.AbstractFileSystem, str]:
        if self._fs_cache is None:
            self._fs_cache = filesystem_for(self.root)
        return self._fs_cache

    @property
    def fs(self) -> fsspec.AbstractFileSystem:
        return self._fs_and_root[0]

    @property
    def is_local(self) -> bool:
        return isinstance(self.fs, LocalFileSystem)

    def path(self, *parts: str) -> str:
        """Path inside the filesystem (no scheme), for use with `self.fs`."""
        base = self._fs_and_root[1].rstrip("/")
        rel = "/".join(str(p).strip("/") for p in parts if str(p))
        return f"{base}/{rel}" if rel else base

    def url(self, *parts: str) -> str:
        """Full URL (with scheme for remote roots), for DuckDB/dbt and for humans."""
        rel = "/".join(str(p).strip("/") for p in parts if str(p))
        return f"{self.root.rstrip('/')}/{rel}" if rel else self.root

    def exists(self, *parts: str) -> bool:
        return self.fs.exists(self.path(*parts))

    def glob(self, pattern: str) -> list[str]:
        return sorted(self.fs.glob(self.path(pattern)))

    def relative(self, fs_path: str) -> str:
        return fs_path[len(self.path()) :].lstrip("/")

    @contextlib.contextmanager
    def atomic_open(self, relpath: str, mode: str = "wb") -> Iterator[io.IOBase]:
        """Open `relpath` for writing so that readers never see a half-written file.

        Locally the bytes go to a temporary sibling that is renamed over the target on success. On object stores
        the object is only committed when the upload completes; on error the upload is discarded.
        """
        target = self.path(relpath)
        parent = target.rsplit("/", 1)[0]
        self.fs.makedirs(parent, exist_ok=True)
        if self.is_local:
            # The temporary file lives in `_tmp/` under the root, named after its writer (host@pid@uuid), so a
            # writer killed mid-write leaves nothing beside the target and its leftover can be told apart from a
            # live writer's (`recovery.sweep_stale_writes`).
            self.fs.makedirs(self.path(TMP_DIR), exist_ok=True)
            tmp = self.path(TMP_DIR, f"{socket.gethostname()}@{os.getpid()}@{uuid.uuid4().hex}")
            try:
                with open(tmp, mode) as f:
                    yield f
                    f.flush()
                    os.fsync(f.fileno())
                pause_point(f"write:{relpath}")
                try:
                    os.replace(tmp, target)
                except OSError as exc:
                    if exc.errno != errno.EXDEV:
                        raise
                    # the target's folder is another filesystem (e.g. a symlinked raw/): stage beside it instead
                    beside = f"{target}.tmp-{uuid.uuid4().hex}"
                    try:
                        shutil.copyfile(tmp, beside)
                        os.replace(beside, target)
                    finally:
                        if os.path.exists(beside):
                            os.remove(beside)
            finally:
                if os.path.exists(tmp):
                    os.remove(tmp)
            return
        f = self.fs.open(target, mode)
        try:
            yield f
            pause_point(f"write:{relpath}")
        except BaseException:
            discard = getattr(f, "discard", None)
            if discard is not None:
                discard()  # abort the upload: nothing is committed
                f.closed = True  # and never flush on garbage collection
            else:  # pragma: no cover - non-S3 remote filesystems
                f.close()
                self.fs.rm(target)
            raise
        f.close()

    def write_bytes(self, relpath: str, data: bytes) -> None:
        with self.atomic_open(relpath, "wb") as f:
            f.write(data)

    def read_bytes(self, relpath: str) -> bytes:
        with self.fs.open(self.path(relpath), "rb") as f:
            return f.read()

    def write_parquet(self, df: pl.DataFrame, relpath: str, **kwargs) -> None:
        with self.atomic_open(relpath, "wb") as f:
            df.write_parquet(f, **kwargs)

    def write_parquet_stream(
        self,
        relpath: str,
        tables: Iterable,
        *,
        schema=None,
        overlap: bool = True,
        **writer_kwargs,
    ) -> int:
        """Write `tables` (polars DataFrames or pyarrow Tables of one schema, e.g. the blocks of a generator) one
        after another into ONE parquet file at `relpath`, each as its own row group(s), atomically (`atomic_open`:
        an error part-way leaves the previous file, or none). Memory holds the table being written and the one
        being produced, never the whole file. Returns the number of rows written.

        `schema` (a pyarrow schema) is what an empty iterable writes; otherwise the first table's schema is used.
        `writer_kwargs` go to `pyarrow.parquet.ParquetWriter` (default `compression="zstd"`, as polars writes).
        With `overlap`, table N is encoded and compressed in a writer thread (pyarrow releases the GIL) while the
        caller produces table N+1, so reading and writing overlap on two cores; at most one table waits."""
        from concurrent.futures import ThreadPoolExecutor

        import pyarrow.parquet as pq

        writer_kwargs.setdefault("compression", "zstd")
        rows = 0
        with self.atomic_open(relpath, "wb") as fh, ThreadPoolExecutor(1, "lake-parquet-writer") as pool:
            writer, pending = None, None
            try:
                for table in tables:
                    if isinstance(table, pl.DataFrame):
                        table = table.to_arrow()
                    if writer is None:
                        writer = pq.ParquetWriter(fh, table.schema, **writer_kwargs)
                    if pending is not None:
                        pending.result()  # re-raises a write error here
                    rows += table.num_rows
                    if overlap:
                        pending = pool.submit(writer.write_table, table)
                    else:
                        writer.write_table(table)
                    del table
                if pending is not None:
                    pending.result()
                if writer is None:
                    if schema is None:
                        raise ValueError(f"{relpath}: no tables to write and no schema for an empty file")
                    writer = pq.ParquetWriter(fh, schema, **writer_kwargs)
            finally:
                if pending is not None:
                    pending.exception()  # never close the writer under a running write
                if writer is not None:
                    writer.close()
        return rows

    def read_parquet(self, relpath: str, **kwargs) -> pl.DataFrame:
        with self.fs.open(self.path(relpath), "rb") as f:
            return pl.read_parquet(f, **kwargs)
