"""Cluster profile: wall time of the same partitioned backfills on 1 Celery worker vs 2 Celery workers.

    .venv/bin/python -m benchmarks.cluster_backfill              # PCB-Vision sample boards at scale 4
    .venv/bin/python -m benchmarks.cluster_backfill --scale 8    # bigger boards (longer steps)

Everything is real and on 127.0.0.1: Redis, a moto S3 server as the shared data root, Celery workers started by
PID with `--concurrency=1`. The backfill is every board partition of `pcbvision_board_pixels` +
`pcbvision_rgb_images` (one run per board, `CDP_CLUSTER_CONCURRENT_RUNS` orchestrated at once, exactly what
`python -m dagster_project run` does under `CDP_PROFILE=cluster`), and 8 partitions of a synthetic CPU-bound
tile asset (`tests/cluster/jobs.py`, a fixed number of CPU-seconds each) standing in for heavy tiles. The raw files
are ingested once beforehand, and warm-up backfills make every worker's pool process import the code first (its
first step is about 2 s slower), so the timed backfills start warm. The 1-worker times are the baseline of the same
run. "step-s" is the time spent inside steps (event log); step-s / wall shows how much the steps overlapped.

Measured 2026-11-29 on the shared 2-core dev machine (other agents' jobs running, load 1.6-2.5):
  pcbvision, 7 boards (steps ~0.4 s):  1 worker 10.2 s, 2 workers 13.7 s  -> x0.74
  CPU tiles, 8 x 3 CPU-s:              1 worker 29.0 s, 2 workers 21.1 s  -> x1.37
Short steps gain nothing: each run's orchestrator polls Celery once a second and 2 workers + 4 orchestrators share
2 cores. Scale-out pays when steps are long compared with that second, and when the workers have their own cores.
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=int, default=4, help="pcbvision sample scale (board size factor)")
    parser.add_argument(
        "--tile-cpu-s", type=float, default=3.0, help="CPU-seconds of work per synthetic tile"
    )
    args = parser.parse_args(argv)
    cpu_s = args.tile_cpu_s
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
            CDP_BENCH_TILE_CPU_S=str(cpu_s),
            CDP_TEST_MARKERS=str(tmp / "markers"),
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

        tile_keys = [dg.AssetKey("cluster_cpu_tile")]
        tiles = [f"tile{i:02d}" for i in range(8)]
        tiny = {"module": "tests.cluster.jobs", "fn_name": "tiny_definitions"}

        def backfill(label: str, partitions: list[str], keys=keys, code=None) -> float:
            code = code or {}
            t0 = time.perf_counter()
            results = list(
                cluster.map_runs(
                    lambda pk: cluster.materialize(keys, instance, partition_key=pk, **code),
                    partitions,
                    instance,
                )
            )
            seconds = time.perf_counter() - t0
            failed = [r.run_id for r in results if not r.success]
            if failed:
                raise SystemExit(f"{label}: runs failed: {failed}")
            pids = {e.pid for r in results for e in r.all_events if e.event_type_value == "STEP_START"}
            used = sorted(w.name for w in workers if w.pool_pids() & pids)
            # Step-seconds: time inside steps (start to success, from the event log); / wall = steps overlapping.
            step_s = 0.0
            for r in results:
                started = {}
                for rec in instance.all_logs(r.run_id):
                    ev = rec.dagster_event
                    if ev and ev.event_type_value == "STEP_START":
                        started[ev.step_key] = rec.timestamp
                    elif ev and ev.event_type_value == "STEP_SUCCESS":
                        step_s += rec.timestamp - started[ev.step_key]
            print(
                f"{label:26} {len(partitions)} partitions {seconds:6.1f} s wall, {step_s:6.1f} step-s, "
                f"overlap x{step_s / seconds:.2f}, load {os.getloadavg()[0]:.1f}, workers: {', '.join(used)}",
                flush=True,
            )
            return seconds

        raw = cluster.materialize([dg.AssetKey("pcbvision_raw_files")], instance)
        assert raw.success, "raw ingest failed"
        backfill("warm-up (2 workers)", boards[:4])
        backfill("warm-up, CPU tiles", tiles[:4], tile_keys, tiny)
        workers[1].stop()  # SIGTERM by PID: warm shutdown
        one = backfill("pcbvision on 1 worker", boards)
        one_cpu = backfill("CPU tiles on 1 worker", tiles, tile_keys, tiny)
        workers[1] = CeleryWorker("w2b", env, tmp / "logs").start().wait_ready()
        backfill("warm-up of the new worker", tiles[:4], tile_keys, tiny)
        two = backfill("pcbvision on 2 workers", boards)
        two_cpu = backfill("CPU tiles on 2 workers", tiles, tile_keys, tiny)
        print(f"\nspeed-up 2 workers / 1 worker ({os.cpu_count()} CPU cores here, ideal x2.00):")
        print(f"  pcbvision board backfill (short steps): x{one / two:.2f}")
        print(f"  CPU tiles ({cpu_s:g} CPU-s per partition):   x{one_cpu / two_cpu:.2f}")
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
