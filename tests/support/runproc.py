"""`python -m dagster_project run ...` as a real child process, for the fault-injection tests.

Each `PlatformDir` is a private DAGSTER_HOME (the shipped `deploy/local/dagster.yaml`, with its `duckdb` pool),
lake, warehouse and download cache. A run is started in its own session, so a "lost machine" is simulated by
SIGKILL to its whole process group (the runner and its dbt child), Ctrl-C by SIGINT to the group.
"""

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


class PlatformDir:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.home = self.root / "home"
        self.lake = self.root / "lake"
        self.warehouse = self.root / "warehouse.duckdb"
        self.home.mkdir(parents=True, exist_ok=True)
        # the shipped instance config (as `make run` installs it), before anyone opens the instance
        shutil.copy(REPO / "deploy" / "local" / "dagster.yaml", self.home / "dagster.yaml")
        self._instance = None

    def env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        for name in [k for k in env if k.startswith(("CDP_TEST_", "CDP_POOL_"))]:
            env.pop(name)
        env.update(
            DAGSTER_HOME=str(self.home),
            CDP_DATA_ROOT=str(self.lake),
            CDP_WAREHOUSE_PATH=str(self.warehouse),
            CDP_CACHE_DIR=str(self.root / "download-cache"),
            DBT_SEND_ANONYMOUS_USAGE_STATS="False",
            PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
            PYTHONUNBUFFERED="1",
        )
        env.update(extra)
        return env

    def start(self, *datasets: str, log_name: str = "run", **env: str) -> "RunProcess":
        return RunProcess(self, list(datasets), self.root / f"{log_name}.log", self.env(**env))

    def instance(self):
        """The same Dagster instance the runs use (read from this process)."""
        import dagster as dg

        if self._instance is None:
            self._instance = dg.DagsterInstance.from_config(str(self.home))
        return self._instance

    def runs(self, *statuses) -> list:
        from dagster import RunsFilter

        filters = RunsFilter(statuses=list(statuses)) if statuses else None
        return [r.dagster_run for r in self.instance().get_run_records(filters=filters)]

    def step_started(self, step_key: str) -> bool:
        """Whether any run has started `step_key` (read from the instance's event log)."""
        from dagster import DagsterEventType

        instance = self.instance()
        return any(
            record.event_log_entry.step_key == step_key
            for run in self.runs()
            for record in instance.get_records_for_run(
                run.run_id, of_type=DagsterEventType.STEP_START
            ).records
        )

    def close(self) -> None:
        if self._instance is not None:
            self._instance.dispose()
            self._instance = None


class RunProcess:
    def __init__(self, where: PlatformDir, datasets: list[str], log_path: Path, env: dict[str, str]) -> None:
        self.where = where
        self.log_path = log_path
        self.started = time.monotonic()
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in wait()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dagster_project", "run", *datasets],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_until(self, what: str, predicate: Callable[[], bool], timeout: float = 600) -> float:
        """Poll `predicate` until true; fail if the process exits first or `timeout` passes (a bound on a hang,
        not a speed check). Returns the seconds since the start."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return time.monotonic() - self.started
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"run exited ({self.proc.returncode}) before {what}:\n{self.output[-4000:]}"
                )
            time.sleep(0.2)
        self.signal_group(signal.SIGKILL)
        raise AssertionError(f"{what} did not happen within {timeout} s:\n{self.output[-4000:]}")

    def signal_group(self, sig: int) -> None:
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass

    def kill(self) -> None:
        """SIGKILL the runner and every process it started (a lost machine / OOM kill of the whole job)."""
        self.signal_group(signal.SIGKILL)
        self.proc.wait()
        self._log.close()

    def kill_runner_only(self) -> None:
        """SIGKILL the runner alone (what the OOM killer does): its children (dbt) are orphaned, still running."""
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self._log.close()

    def wait(self, timeout: float = 900) -> int:
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.signal_group(signal.SIGKILL)
            self.proc.wait()
            raise AssertionError(f"run did not finish within {timeout} s:\n{self.output[-4000:]}") from None
        finally:
            self._log.close()
        return rc

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started
