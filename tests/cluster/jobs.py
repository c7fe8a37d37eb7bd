"""Tiny assets for the cluster tests' retry and worker-kill cases, on the same executor and IO manager as the
platform (`cluster.executor()`, `LakeIOManager` on `CDP_DATA_ROOT`). Workers import this module by its code
pointer, so it must stay importable from the repository root."""

import functools
import os
import time
from pathlib import Path

import dagster as dg

from dagster_project import cluster
from dagster_project.io_managers import LakeIOManager
from dagster_project.storage import Lake


def _mark(name: str, context: dg.AssetExecutionContext) -> None:
    """Leave a file naming the PID that runs this attempt, so the test can find (and kill) it."""
    folder = Path(os.environ["CDP_TEST_MARKERS"])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.{os.getpid()}.{context.retry_number}").write_text(str(os.getpid()))


@dg.asset(retry_policy=dg.RetryPolicy(max_retries=2, delay=0.5))
def cluster_flaky(context: dg.AssetExecutionContext) -> dict:
    _mark("flaky", context)
    if context.retry_number == 0:
        raise RuntimeError("deliberate failure on the first attempt")
    return {"pid": os.getpid(), "attempt": context.retry_number}


@dg.asset
def cluster_after_flaky(cluster_flaky: dict) -> dict:
    return {"upstream": cluster_flaky, "pid": os.getpid()}


@dg.asset
def cluster_slow(context: dg.AssetExecutionContext) -> dict:
    _mark("slow", context)
    time.sleep(float(os.environ.get("CDP_TEST_SLOW_S", "8")))
    return {"pid": os.getpid()}


@dg.asset
def cluster_after_slow(cluster_slow: dict) -> dict:
    return {"upstream": cluster_slow, "pid": os.getpid()}


TILES = dg.StaticPartitionsDefinition([f"tile{i:02d}" for i in range(8)])


@dg.asset(partitions_def=TILES)
def cluster_cpu_tile(context: dg.AssetExecutionContext) -> dict:
    """A fixed amount of CPU work per partition (`CDP_BENCH_TILE_CPU_S` CPU-seconds, counted as process time so
    that a busy machine makes it slower, not smaller): the backfill benchmark's stand-in for a heavy tile."""
    budget = float(os.environ.get("CDP_BENCH_TILE_CPU_S", "2"))
    start, n = time.process_time(), 0
    while time.process_time() - start < budget:
        n += sum(i * i for i in range(10_000))
    return {"partition": context.partition_key, "pid": os.getpid(), "checksum": n % 1_000_003}


@functools.cache
def tiny_definitions() -> dg.Definitions:
    lake = Lake.from_env()
    return dg.Definitions(
        assets=[cluster_flaky, cluster_after_flaky, cluster_slow, cluster_after_slow, cluster_cpu_tile],
        resources={"lake": lake, "io_manager": LakeIOManager(lake=lake)},
        executor=cluster.executor(),
    )
