"""Cluster profile: how a run recovers when a worker dies mid-step, for the two ways a worker can die.

    .venv/bin/python -m benchmarks.cluster_recovery                       # visibility timeout 20 s
    .venv/bin/python -m benchmarks.cluster_recovery --visibility-timeout 60

Redis, a moto S3 data root and two Celery workers on 127.0.0.1 (real processes, stopped by PID). A run of
`cluster_slow` (an 8 s step) → `cluster_after_slow` (tests/cluster/jobs.py) starts; one second into the step:

- "pool process killed": SIGKILL to the process running the step. Its worker survives, Celery rejects the task
  (`task_reject_on_worker_lost`), Redis re-queues it at once.
- "whole worker killed" (a machine lost): SIGKILL to the worker's main process and its pool process. Nobody rejects
  the task; Redis re-delivers it to the other worker once `CDP_CELERY_VISIBILITY_TIMEOUT_S` has passed (plus
  kombu's restore sweep). This is why the timeout must exceed the longest step, and why it bounds the delay.

Prints, for each: seconds from the kill to the step's restart on a live worker, and the run's outcome.

Measured 2026-11-29 on the shared 2-core dev machine, visibility timeout 20 s:
  pool process killed   step restarted  0.8 s after the kill, run SUCCESS 13.3 s after launch
  whole worker killed   step restarted 71.4 s after the kill, run SUCCESS 84.6 s after launch
(Redis restores unacknowledged tasks in periodic sweeps, so the delay is the timeout plus up to a sweep period.)
"""

import argparse
import os
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--visibility-timeout", type=int, default=20)
    args = parser.parse_args(argv)
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"

    import boto3

    from tests.cluster.processes import CeleryWorker, RedisServer, cluster_env
    from tests.support.moto import MotoServer

    tmp = Path(tempfile.mkdtemp(prefix="cdp-cluster-recovery-"))
    moto = MotoServer().start()
    redis, workers = None, []
    try:
        os.environ.update(moto.env())
        boto3.client("s3", endpoint_url=moto.url, region_name="us-east-1").create_bucket(
            Bucket="cdp-recovery"
        )
        redis = RedisServer(tmp / "redis").start()
        home = tmp / "dagster_home"
        home.mkdir()
        from dagster_project import settings

        (home / "dagster.yaml").write_text((settings.REPO_ROOT / "deploy/cluster/dagster.yaml").read_text())
        env = cluster_env(
            redis.url,
            **moto.env(),
            DAGSTER_HOME=str(home),
            CDP_DATA_ROOT="s3://cdp-recovery/lake",
            CDP_CELERY_VISIBILITY_TIMEOUT_S=str(args.visibility_timeout),
            CDP_TEST_MARKERS=str(tmp / "markers"),
            CDP_TEST_SLOW_S="8",
        )
        os.environ.update(env)
        import dagster as dg

        from dagster_project import cluster

        instance = dg.DagsterInstance.get()
        workers = [CeleryWorker(f"w{i}", env, tmp / "logs").start() for i in (1, 2)]
        for w in workers:
            w.wait_ready()
        keys = [dg.AssetKey("cluster_slow"), dg.AssetKey("cluster_after_slow")]
        code = {"module": "tests.cluster.jobs", "fn_name": "tiny_definitions"}
        cluster.materialize(keys, instance, **code)  # warm-up: both pool processes import the code

        for case in ("pool process killed", "whole worker killed"):
            for f in (tmp / "markers").glob("slow.*"):  # the step leaves one per attempt: start afresh
                f.unlink()
            box: dict = {}
            thread = threading.Thread(
                target=lambda b=box: b.update(result=cluster.materialize(keys, instance, **code)), daemon=True
            )
            t_start = time.time()
            thread.start()
            victim_pid = _wait_for_marker(tmp / "markers")
            victim = next(w for w in workers if victim_pid in w.pool_pids())
            time.sleep(1)
            t_kill = time.time()
            if case == "whole worker killed":
                os.kill(victim.proc.pid, signal.SIGKILL)  # the main process first: nobody may reject the task
            os.kill(victim_pid, signal.SIGKILL)
            thread.join(timeout=args.visibility_timeout * 3 + 180)
            result = box.get("result")
            logged = list(instance.all_logs(result.run_id)) if result else []
            starts = [
                r.timestamp
                for r in logged
                if r.dagster_event
                and r.dagster_event.event_type_value == "STEP_START"
                and r.step_key == "cluster_slow"
            ]
            restart = f"{starts[1] - t_kill:6.1f} s after the kill" if len(starts) > 1 else "never"
            outcome = "SUCCESS" if result and result.success else "FAILED/HUNG"
            print(
                f"{case:22} step restarted {restart}; run {outcome} {time.time() - t_start:6.1f} s after launch",
                flush=True,
            )
            if case == "whole worker killed":
                victim.proc.wait()
        print(f"(visibility timeout {args.visibility_timeout} s; scratch {tmp})")
        return 0
    finally:
        for w in workers:
            w.stop()
        if redis:
            redis.stop()
        moto.stop()


def _wait_for_marker(folder: Path, timeout: float = 120) -> int:
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = sorted(folder.glob("slow.*"), key=lambda p: p.stat().st_mtime)
        if found:
            return int(found[-1].read_text())
        time.sleep(0.1)
    raise RuntimeError("the slow step never started")


if __name__ == "__main__":
    sys.exit(main())
