"""`dagster dev` (webserver + daemon) for real, as `make ui` starts it, for the UI tests.

It runs on 127.0.0.1 in a `PlatformDir` (private DAGSTER_HOME with the shipped `deploy/local/dagster.yaml`, run
queue included, lake, warehouse, download cache), with each dataset's source set by the caller (a dataset without
one points at a folder that does not exist, so its sensor stays idle) and sensors ticking every `interval_s`
seconds (`CDP_SENSOR_INTERVAL_S`, which also sets the automation sensor's minimum interval). Tests drive it
through its GraphQL API and read its instance (run and event storage) directly. The processes run in their own
session and are stopped by their process group."""

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from tests.support.moto import free_port
from tests.support.runproc import REPO, PlatformDir

LOCATION = "climate_data_platform"
REPO_NAME = "__repository__"
SELECTOR = {"repositoryLocationName": LOCATION, "repositoryName": REPO_NAME}
IN_FLIGHT = ("QUEUED", "NOT_STARTED", "STARTING", "STARTED", "CANCELING")
BAD = ("FAILURE", "CANCELED")
SENSOR_TICKS_QUERY = """
query($selector: RepositorySelector!) {
  sensorsOrError(repositorySelector: $selector) { ... on Sensors { results { name
    sensorState { ticks(limit: 1, statuses: [SKIPPED, SUCCESS, FAILURE]) { timestamp status } } } } }
}
"""


class DagsterDev:
    """`with DagsterDev(root, sources, interval_s) as dev:` starts `dagster dev` and waits for its webserver."""

    def __init__(self, root: Path, sources: dict[str, Path | str], interval_s: int) -> None:
        from dagster_project.datasets import load_datasets

        self.where = PlatformDir(root)
        self.log_path = self.where.root / "dagster-dev.log"
        # No hourly retry of failed work during the test (Jan 1st only): otherwise a test that crosses an hour
        # boundary sees extra runs (CI failure: a second PCB-Vision evaluation after the 07:00 UTC retry tick).
        env = {"CDP_SENSOR_INTERVAL_S": str(interval_s), "CDP_RETRY_CRON": "0 0 1 1 *"}
        for ds in load_datasets():
            env[f"CDP_{ds.name.upper()}_SOURCE"] = str(
                sources.get(ds.name, self.where.root / "no-such-source" / ds.name)
            )
        self.env = self.where.env(**env)
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.started = 0.0

    def __enter__(self) -> "DagsterDev":
        from dagster_graphql import DagsterGraphQLClient

        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        dagster = str(Path(sys.executable).with_name("dagster"))
        self.started = time.time()
        self.proc = subprocess.Popen(
            [dagster, "dev", "-h", "127.0.0.1", "-p", str(self.port), "-w", str(REPO / "workspace.yaml")],
            cwd=REPO,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a process group we can signal as a whole
        )
        try:
            self.wait("the webserver answers", self._answers, timeout_s=300, poll_s=1)
        except BaseException:
            self.stop()
            raise
        self.client = DagsterGraphQLClient("127.0.0.1", port_number=self.port)
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def _answers(self) -> bool:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{self.port}/server_info", timeout=2)
            return True
        except OSError:
            return False

    def stop(self) -> None:
        self.where.close()
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)  # webserver, daemon and code servers go together
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
        if self.proc is not None:
            try:  # what outlived `dagster dev` in its group (a code server it was restarting, a run)
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
        if not self._log.closed:
            self._log.close()

    @property
    def instance(self):
        """The instance `dagster dev` uses, read from this process."""
        return self.where.instance()

    def wait(self, what: str, ready: Callable[[], bool], timeout_s: float, poll_s: float = 3.0) -> float:
        """Poll `ready` until true (a bound on a hang, not a speed check); returns when it became true."""
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"dagster dev exited with {self.proc.returncode}; see {self.log_path}")
            if ready():
                return time.time()
            time.sleep(poll_s)
        raise AssertionError(f"{what}: not reached within {timeout_s} s; see {self.log_path}")

    def runs(self) -> list:
        """Every run of the instance, oldest first."""
        return [r.dagster_run for r in reversed(self.instance.get_run_records())]

    def partition_runs(self, dataset: str) -> dict[str, list]:
        """{partition: its runs, oldest first} of one dataset's per-partition runs."""
        out: dict[str, list] = {}
        for r in self.runs():
            if r.tags.get("cdp/dataset") == dataset and "dagster/partition" in r.tags:
                out.setdefault(r.tags["dagster/partition"], []).append(r)
        return out

    def settled(self) -> bool:
        """No run in flight, and every sensor (the source sensors and the automation sensor) finished a tick that
        started after the last run ended: nothing is left that the sensors still want to request."""
        records = self.instance.get_run_records()
        if any(r.dagster_run.status.value in IN_FLIGHT for r in records):
            return False
        last_end = max((r.end_time or r.update_timestamp.timestamp() for r in records), default=0.0)
        sensors = self.client._execute(SENSOR_TICKS_QUERY, {"selector": SELECTOR})["sensorsOrError"][
            "results"
        ]
        ticked = all(
            s["sensorState"]["ticks"] and s["sensorState"]["ticks"][0]["timestamp"] > last_end
            for s in sensors
        )
        # read the runs again: a tick that requested runs created them before it finished
        return ticked and len(self.instance.get_run_records()) == len(records)
