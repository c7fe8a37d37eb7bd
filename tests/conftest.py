"""Shared fixtures: a real S3 API (moto server on 127.0.0.1), a local HTTP file host, temporary lakes and
warehouses, and a helper that materialises datasets end to end (real dagster instance, real dbt, real GX)."""

import os
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

# dbt and moto_server live next to the interpreter; make them findable even if the venv is not activated.
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "False")

from tests.support.http_server import Faults, LocalHTTPServer  # noqa: E402
from tests.support.moto import MotoServer  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def dbt_manifest():
    """dagster-dbt reads dbt/target/manifest.json when the definitions are imported: parse first."""
    from dagster_project.dbt import prepare_manifest

    return prepare_manifest(force=True)


@pytest.fixture(autouse=True)
def _no_leftover_defs_state_storage():
    """Dagster keeps the defs-state storage of the instance entered last (`with instance:`) in a context variable;
    one left set by an earlier test points at a disposed instance, and every later `materialize` in the same
    worker fails ("Attempted to resolve undefined DagsterInstance weakref"). Each test starts and ends without."""
    from dagster._core.storage.defs_state.base import set_defs_state_storage

    with set_defs_state_storage(None):
        yield


@pytest.fixture(scope="session")
def moto():
    server = MotoServer().start()
    saved = {k: os.environ.get(k) for k in server.env()}
    os.environ.update(server.env())
    try:
        yield server
    finally:
        server.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture
def lake_local(tmp_path):
    from dagster_project.storage import Lake

    return Lake(root=str(tmp_path / "lake"))


@pytest.fixture
def s3_bucket(moto):
    import boto3

    bucket = f"cdp-test-{uuid.uuid4().hex[:10]}"
    boto3.client("s3", endpoint_url=moto.url, region_name="us-east-1").create_bucket(Bucket=bucket)
    return bucket


@pytest.fixture
def lake_s3(s3_bucket):
    from dagster_project.storage import Lake

    return Lake(root=f"s3://{s3_bucket}/lake")


@pytest.fixture
def http_server():
    """Factory: `http_server(folder, faults=Faults(...))` → a started LocalHTTPServer (stopped after the test)."""
    started: list[LocalHTTPServer] = []

    def start(root, faults: Faults | None = None) -> LocalHTTPServer:
        server = LocalHTTPServer(root, faults).__enter__()
        started.append(server)
        return server

    yield start
    for server in started:
        server.__exit__(None, None, None)


@dataclass
class Materialized:
    report: object
    instance: object
    warehouse_path: str
    lake: object

    @property
    def success(self) -> bool:
        return self.report.success

    def evaluations(self) -> list:
        return [ev for r in self.report.results for ev in r.get_asset_check_evaluations()]

    def materializations(self, key: str) -> list:
        return [
            ev.materialization
            for r in self.report.results
            for ev in r.get_asset_materialization_events()
            if ev.asset_key.to_user_string() == key
        ]

    def step_failures(self) -> dict[str, str]:
        out = {}
        for r in self.report.results:
            for e in r.all_events:
                if e.event_type_value == "STEP_FAILURE":
                    out[e.step_key] = (
                        e.step_failure_data.error.to_string() if e.step_failure_data.error else ""
                    )
        return out


@pytest.fixture
def cdp_env(tmp_path, monkeypatch):
    """Per-test download cache (so resumable downloads start clean)."""
    monkeypatch.setenv("CDP_CACHE_DIR", str(tmp_path / "download-cache"))
    return tmp_path


@pytest.fixture
def materialize_dataset(tmp_path, monkeypatch, cdp_env):
    """`materialize_dataset(name_or_names, lake, source=None)` materialises datasets end to end into a temporary
    Dagster instance and DuckDB warehouse, and returns a `Materialized` (report, instance, warehouse path).
    `upto=[asset keys]` materialises only those assets and their ancestors (of the named datasets), in the
    runner's usual stages: for a test whose assertions stop there (a failure upstream, a partition's table)."""
    import dagster as dg

    from dagster_project.io_managers import LakeIOManager
    from dagster_project.runner import materialize_everything
    from dagster_project.warehouse import Warehouse

    home = tmp_path / "dagster_home"
    home.mkdir(exist_ok=True)
    instance = dg.DagsterInstance.local_temp(tempdir=str(home), overrides={"telemetry": {"enabled": False}})

    def run(
        names,
        lake,
        source: str | dict | None = None,
        warehouse_path: str | None = None,
        upto: list | None = None,
    ) -> Materialized:
        names = [names] if isinstance(names, str) else list(names)
        sources = source if isinstance(source, dict) else ({names[0]: source} if source else {})
        for name, location in sources.items():
            monkeypatch.setenv(f"CDP_{name.upper()}_SOURCE", str(location))
        wh = warehouse_path or str(tmp_path / "warehouse.duckdb")
        resources = {"lake": lake, "io_manager": LakeIOManager(lake=lake), "warehouse": Warehouse(path=wh)}
        defs = None
        if upto is not None:
            from dagster_project.definitions import defs as full
            from tests.support.selection import upstream_definitions

            defs = upstream_definitions(full, upto)
        report = materialize_everything(instance, datasets=names, defs=defs, resources=resources)
        return Materialized(report=report, instance=instance, warehouse_path=wh, lake=lake)

    yield run
    instance.dispose()


@pytest.fixture
def faults():
    return Faults
