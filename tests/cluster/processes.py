"""Real processes for cluster tests and benchmarks: a Redis server and Celery workers on 127.0.0.1, each started
with its own environment and stopped by PID."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from dagster_project import settings
from tests.support.moto import free_port


def _stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


class RedisServer:
    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> "RedisServer":
        if shutil.which("redis-server") is None:
            raise RuntimeError(
                "redis-server is not installed: run `make cluster-deps` (deploy/cluster/install-redis.sh)"
            )
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir), "--logfile", str(self.workdir / "redis.log")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        import redis

        client = redis.Redis(host="127.0.0.1", port=self.port)
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                if client.ping():
                    return self
            except redis.ConnectionError:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"redis-server exited: see {self.workdir / 'redis.log'}") from None
                time.sleep(0.1)
        raise RuntimeError("redis-server did not answer within 20 s")

    def stop(self) -> None:
        if self.proc:
            _stop(self.proc)


class CeleryWorker:
    """`celery -A dagster_project.celery_app worker` with one pool process (`--concurrency=1`)."""

    def __init__(self, name: str, env: dict[str, str], logdir: Path, queues: str = "dagster") -> None:
        self.name, self.env, self.queues = name, env, queues
        self.log = logdir / f"{name}.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> "CeleryWorker":
        self.log.parent.mkdir(parents=True, exist_ok=True)
        celery = str(Path(sys.executable).with_name("celery"))
        self._fh = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [celery, "-A", "dagster_project.celery_app", "worker", "-n", f"{self.name}@%h", "-Q", self.queues,
             "--concurrency=1", "--prefetch-multiplier=1", "--loglevel=INFO",
             "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=settings.REPO_ROOT,
            env=self.env,
            stdout=self._fh,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        return self

    def wait_ready(self, timeout: float = 120) -> "CeleryWorker":
        deadline = time.time() + timeout
        while time.time() < deadline:
            if b" ready." in self.log.read_bytes():
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker {self.name} exited:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.2)
        raise RuntimeError(f"worker {self.name} not ready after {timeout} s:\n{self.log.read_text()[-3000:]}")

    def pool_pids(self) -> set[int]:
        """PIDs of the pool processes that execute the steps (they change when one is killed and replaced)."""
        try:
            return {c.pid for c in psutil.Process(self.proc.pid).children(recursive=True)}
        except psutil.NoSuchProcess:
            return set()

    def stop(self) -> None:
        if self.proc:
            # SIGTERM = warm shutdown: the worker finishes its current step, then exits with its pool.
            _stop(self.proc, timeout=60)
            self._fh.close()


def cluster_env(redis_url: str, **extra: str) -> dict[str, str]:
    """The environment every process of a test cluster shares (orchestrator and workers)."""
    env = {
        **os.environ,
        "CDP_PROFILE": "cluster",
        "CDP_CELERY_BROKER": f"{redis_url}/0",
        "CDP_CELERY_BACKEND": f"{redis_url}/1",
        "PYTHONPATH": str(settings.REPO_ROOT),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        **extra,
    }
    return env
