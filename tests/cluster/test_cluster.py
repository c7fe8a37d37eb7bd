"""The cluster profile for real: Redis, a moto S3 server and two Celery worker processes on 127.0.0.1 run the
sample pipelines of two datasets, a step that fails once, and a step whose worker process is killed mid-step.

Run alone with `pytest -m cluster tests/cluster` (needs `redis-server`: `deploy/cluster/install-redis.sh`)."""

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from dagster_project import settings
from tests.cluster.processes import CeleryWorker, RedisServer, cluster_env

pytestmark = pytest.mark.cluster

DATASETS = ["exionaics", "pcbvision"]
TINY = {"module": "tests.cluster.jobs", "fn_name": "tiny_definitions"}


class Cluster:
    def __init__(self, workers: list[CeleryWorker], instance, lake, tmp: Path) -> None:
        self.workers, self.instance, self.lake, self.tmp = workers, instance, lake, tmp

    def worker_of(self, pid: int) -> str | None:
        return next((w.name for w in self.workers if pid in w.pool_pids()), None)


@pytest.fixture(scope="module")
def cluster(moto, tmp_path_factory):
    """Redis + two single-slot workers sharing one environment with this process (the orchestrator): the data
    root on S3, one DuckDB warehouse file, one Dagster instance (sqlite in a shared DAGSTER_HOME)."""
    import boto3
    import dagster as dg

    from dagster_project.storage import Lake

    tmp = tmp_path_factory.mktemp("cluster")
    bucket = "cdp-cluster-test"
    boto3.client("s3", endpoint_url=moto.url, region_name="us-east-1").create_bucket(Bucket=bucket)
    home = tmp / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((settings.REPO_ROOT / "deploy/cluster/dagster.yaml").read_text())
    redis = RedisServer(tmp / "redis").start()
    env = cluster_env(
        redis.url,
        **moto.env(),
        DAGSTER_HOME=str(home),
        CDP_DATA_ROOT=f"s3://{bucket}/lake",
        CDP_WAREHOUSE_PATH=str(tmp / "warehouse.duckdb"),
        CDP_CACHE_DIR=str(tmp / "cache"),
        CDP_TEST_MARKERS=str(tmp / "markers"),
        CDP_TEST_SLOW_S="5",
    )
    workers: list[CeleryWorker] = []
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        instance = dg.DagsterInstance.get()  # creates the sqlite schema before any worker opens it
        try:
            for name in ("w1", "w2"):
                workers.append(CeleryWorker(name, env, tmp / "logs").start())
            for w in workers:
                w.wait_ready()
            yield Cluster(workers, instance, Lake(root=env["CDP_DATA_ROOT"]), tmp)
        finally:
            for w in workers:
                w.stop()
            redis.stop()
            instance.dispose()


def _steps(result, event_type: str = "STEP_START") -> list[tuple[str, int]]:
    return [(e.step_key, e.pid) for e in result.all_events if e.event_type_value == event_type]


def test_two_datasets_run_on_both_workers_through_s3(cluster):
    from dagster_project.runner import materialize_everything

    report = materialize_everything(cluster.instance, datasets=DATASETS)
    assert report.success, report.failures

    starts = [s for r in report.results for s in _steps(r)]
    workers = {cluster.worker_of(pid) for _, pid in starts}
    assert workers == {"w1", "w2"}, f"steps ran in {workers}: {starts}"
    # the per-board runs of pcbvision fanned out over both workers
    board_steps = [
        pid for r in report.results if r.dagster_run.tags.get("dagster/partition") for _, pid in _steps(r)
    ]
    assert len(board_steps) >= 7 * 2 and {cluster.worker_of(p) for p in board_steps} == {"w1", "w2"}

    # every stored value went to S3 and came back: each downstream step loaded its inputs from there
    paths = [
        ev.materialization.metadata["path"].value
        for r in report.results
        for ev in r.get_asset_materialization_events()
        if "path" in ev.materialization.metadata
    ]
    assert paths and all(p.startswith("s3://cdp-cluster-test/lake/") for p in paths)
    assert cluster.lake.exists("objects/exionaics_naics_classifier/object.pkl")
    evaluations = {
        ev.asset_key.to_user_string(): ev.materialization.metadata
        for r in report.results
        for ev in r.get_asset_materialization_events()
    }
    assert 0.5 < evaluations["exionaics_model_evaluation"]["top1_naics6"].value <= 1.0
    assert "pcbvision_model_evaluation" in evaluations
    checks = [ev for r in report.results for ev in r.get_asset_check_evaluations()]
    assert checks and all(ev.passed for ev in checks)


def test_step_that_fails_once_is_retried_on_a_worker(cluster):
    import dagster as dg

    from dagster_project import cluster as cl

    result = cl.materialize(
        [dg.AssetKey("cluster_flaky"), dg.AssetKey("cluster_after_flaky")], cluster.instance, **TINY
    )
    assert result.success
    events = [e.event_type_value for e in result.all_events if e.step_key == "cluster_flaky"]
    assert events.count("STEP_UP_FOR_RETRY") == 1 and events.count("STEP_SUCCESS") == 1
    assert cluster.worker_of(_steps(result)[0][1]) is not None
    stored = cluster.lake.read_bytes("objects/cluster_after_flaky/object.pkl")
    import pickle

    assert pickle.loads(stored)["upstream"]["attempt"] == 1


def test_killing_the_worker_process_mid_step_still_succeeds(cluster):
    import dagster as dg

    from dagster_project import cluster as cl

    markers = cluster.tmp / "markers"
    box: dict = {}

    def orchestrate() -> None:
        box["result"] = cl.materialize(
            [dg.AssetKey("cluster_slow"), dg.AssetKey("cluster_after_slow")], cluster.instance, **TINY
        )

    # daemon: a hung run must not keep pytest from exiting
    thread = threading.Thread(target=orchestrate, daemon=True)
    thread.start()
    deadline = time.time() + 90
    while not list(markers.glob("slow.*")) and time.time() < deadline:
        time.sleep(0.2)
    (marker,) = markers.glob("slow.*")
    victim = int(marker.read_text())
    assert cluster.worker_of(victim) is not None  # the pool process of one of the two workers
    time.sleep(1)  # mid-step: the step sleeps 5 s
    os.kill(victim, signal.SIGKILL)
    thread.join(timeout=150)
    assert not thread.is_alive(), "the run did not finish after its worker process was killed"
    result = box["result"]
    assert result.success
    # The killed attempt returned nothing to the orchestrator; its events are in the instance's event log.
    logged = [r.dagster_event for r in cluster.instance.all_logs(result.run_id) if r.is_dagster_event]
    slow = [e for e in logged if e.step_key == "cluster_slow"]
    starts = [e.pid for e in slow if e.event_type_value == "STEP_START"]
    assert len(starts) == 2 and starts[0] == victim and starts[1] != victim
    assert [e.event_type_value for e in slow].count("STEP_SUCCESS") == 1
    assert {int(m.read_text()) for m in markers.glob("slow.*")} == set(starts)
