"""Cluster profile: wall time of the same partitioned backfill on 1 Celery worker vs 2 Celery workers.

    .venv/bin/python -m benchmarks.cluster_backfill              # PCB-Vision sample boards at scale 2
    .venv/bin/python -m benchmarks.cluster_backfill --scale 4    # bigger boards (longer steps)

Everything is real and on 127.0.0.1: Redis, a moto S3 server as the shared data root, Celery workers started by
PID with `--concurrency=1`. The backfill is every board partition of `pcbvision_board_pixels` +
`pcbvision_rgb_images` (one run per board, `CDP_CLUSTER_CONCURRENT_RUNS` orchestrated at once, exactly what
`python -m dagster_project run` does under `CDP_PROFILE=cluster`). The raw files are ingested once beforehand, and
a warm-up backfill on both workers makes every worker's pool process import the code first (its first step is
about 2 s slower), so both timed backfills start warm. The 1-worker time is the baseline of the same run.

On a machine with fewer cores than workers + orchestrators the speed-up is bounded by the cores, not by Celery.
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=int, default=2, help="pcbvision sample scale (board size factor)")
    args = parser.parse_args(argv)
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"

    import boto3

    from tests.cluster.processes import CeleryWorker, RedisServer, cluster_env
    from tests.support.moto import MotoServer

    tmp = Path(tempfile.mkdtemp(prefix="cdp-cluster-bench-"))
    moto = MotoServer().start()
    redis = workers = None
    try:
        os.environ.update(moto.env())
        boto3.client("s3", endpoint_url=moto.url, region_name="us-east-1").create_bucket(Bucket="cdp-bench")
        redis = RedisServer(tmp / "redis").start()
        from dagster_project.datasets.pcbvision.sample import write_sample

        write_sample(tmp / "source", scale=args.scale)
        home = tmp / "dagster_home"
        home.mkdir()
        from dagster_project import settings

        (home / "dagster.yaml").write_text((settings.REPO_ROOT / "deploy/cluster/dagster.yaml").read_text())
        env = cluster_env(
            redis.url,
            **moto.env(),
            DAGSTER_HOME=str(home),
            CDP_DATA_ROOT="s3://cdp-bench/lake",
            CDP_WAREHOUSE_PATH=str(tmp / "warehouse.duckdb"),
            CDP_PCBVISION_SOURCE=str(tmp / "source"),
            CDP_CACHE_DIR=str(tmp / "cache"),
        )
        os.environ.update(env)
        import dagster as dg

        from dagster_project import cluster
        from dagster_project.datasets.pcbvision import DATASET

        instance = dg.DagsterInstance.get()
        boards = DATASET.discover_partitions(str(tmp / "source"))
        instance.add_dynamic_partitions(DATASET.partitions.name, boards)
        keys = [dg.AssetKey("pcbvision_board_pixels"), dg.AssetKey("pcbvision_rgb_images")]

        workers = [CeleryWorker(f"w{i}", env, tmp / "logs").start() for i in (1, 2)]
        for w in workers:
            w.wait_ready()

        def backfill(label: str, partitions: list[str]) -> float:
            t0 = time.perf_counter()
            results = list(
                cluster.map_runs(
                    lambda pk: cluster.materialize(keys, instance, partition_key=pk), partitions, instance
                )
            )
            seconds = time.perf_counter() - t0
            failed = [r.run_id for r in results if not r.success]
            if failed:
                raise SystemExit(f"{label}: runs failed: {failed}")
            pids = {e.pid for r in results for e in r.all_events if e.event_type_value == "STEP_START"}
            used = sorted(w.name for w in workers if w.pool_pids() & pids)
            print(
                f"{label:28} {len(partitions)} boards  {seconds:7.1f} s  workers used: {', '.join(used)}",
                flush=True,
            )
            return seconds

        raw = cluster.materialize([dg.AssetKey("pcbvision_raw_files")], instance)
        assert raw.success, "raw ingest failed"
        backfill("warm-up (2 workers)", boards[:4])
        workers[1].stop()  # SIGTERM by PID: warm shutdown
        one = backfill("backfill on 1 worker", boards)
        workers[1] = CeleryWorker("w2b", env, tmp / "logs").start().wait_ready()
        backfill("warm-up of the new worker", boards[:2])
        two = backfill("backfill on 2 workers", boards)
        print(
            f"\nspeed-up 2 workers / 1 worker: x{one / two:.2f}  (ideal x2.00; {os.cpu_count()} CPU cores here)"
        )
        print(f"scratch: {tmp}")
        return 0
    finally:
        for w in workers or []:
            w.stop()
        if redis:
            redis.stop()
        moto.stop()


if __name__ == "__main__":
    sys.exit(main())
