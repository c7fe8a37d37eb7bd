"""Read access to the DuckDB warehouse that dbt builds. dbt owns the file (the only writer, in the `duckdb`
concurrency pool); Python assets open it read-only, retrying while a dbt run holds the lock."""

import time

import dagster as dg
import duckdb
import polars as pl

from dagster_project import settings


class Warehouse(dg.ConfigurableResource):
    """The DuckDB warehouse file (local disk). Read-only from Python."""

    path: str

    @classmethod
    def from_env(cls) -> "Warehouse":
        return cls(path=settings.warehouse_path())

    def query(self, sql: str, *, attempts: int = 30, wait_s: float = 2.0) -> pl.DataFrame:
        last: Exception | None = None
        for _ in range(attempts):
            try:
                with duckdb.connect(self.path, read_only=True) as con:
                    return con.sql(sql).pl()
            except duckdb.IOException as exc:  # another process holds the write lock: wait for it
                last = exc
                time.sleep(wait_s)
        raise RuntimeError(f"{self.path}: warehouse stayed locked for {attempts * wait_s:.0f} s: {last}")

    def read_table(self, name: str) -> pl.DataFrame:
        return self.query(f'select * from "{name}"')
