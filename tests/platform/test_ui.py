"""The Dagster UI for real: `dagster dev` (webserver + daemon) on 127.0.0.1 with a temporary DAGSTER_HOME, driven
through its GraphQL API: every asset and check is listed, one dataset's raw → evaluation slice is launched and
succeeds, and the daemon runs the sensors and schedules. The processes are stopped by their PIDs."""

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from dagster_project.settings import REPO_ROOT, SAMPLES_DIR
from tests.support.moto import free_port

LOCATION = "climate_data_platform"
REPO = "__repository__"
ASSETS_QUERY = """
query { assetNodes { assetKey { path } groupName
  assetChecksOrError { ... on AssetChecks { checks { name } } } } }
"""
INSTIGATORS_QUERY = """
query($selector: RepositorySelector!) {
  sensorsOrError(repositorySelector: $selector) { ... on Sensors { results { name sensorState { status } } } }
  schedulesOrError(repositorySelector: $selector) { ... on Schedules { results { name scheduleState { status } } } }
  instance { daemonHealth { allDaemonStatuses { daemonType required healthy } } }
}
"""


def _wait_http(url: str, proc: subprocess.Popen, timeout_s: float) -> None:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"dagster dev exited with {proc.returncode}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(1)
    raise TimeoutError(f"{url} did not answer within {timeout_s} s")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)  # its own session: webserver, daemon and code servers go together
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@pytest.mark.ui
def test_dagster_dev_lists_assets_runs_a_slice_and_runs_the_daemon(tmp_path, dbt_manifest):
    from dagster_graphql import DagsterGraphQLClient, DagsterGraphQLClientError

    from dagster_project.datasets import load_datasets
    from dagster_project.definitions import defs

    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO_ROOT / "deploy" / "local" / "dagster.yaml", home / "dagster.yaml")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "CDP_DATA_ROOT": str(tmp_path / "lake"),
        "CDP_WAREHOUSE_PATH": str(tmp_path / "warehouse.duckdb"),
        "CDP_EXIONAICS_SOURCE": str(SAMPLES_DIR / "exionaics"),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    for ds in load_datasets():  # keep the other sources' sensors idle: this test drives one dataset
        if ds.name != "exionaics":
            env[f"CDP_{ds.name.upper()}_SOURCE"] = str(tmp_path / "no-such-source" / ds.name)
    port = free_port()
    log = open(tmp_path / "dagster-dev.log", "wb")
    dagster = str(Path(sys.executable).with_name("dagster"))
    proc = subprocess.Popen(
        [dagster, "dev", "-h", "127.0.0.1", "-p", str(port), "-w", str(REPO_ROOT / "workspace.yaml")],
        cwd=REPO_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # a process group we can signal as a whole
    )
    try:
        _wait_http(f"http://127.0.0.1:{port}/server_info", proc, timeout_s=240)
        client = DagsterGraphQLClient("127.0.0.1", port_number=port)

        # 1. every expected asset and check is in the UI
        nodes = client._execute(ASSETS_QUERY)["assetNodes"]
        listed = {"/".join(n["assetKey"]["path"]) for n in nodes}
        graph = defs.resolve_asset_graph()
        expected = {k.to_user_string() for k in graph.get_all_asset_keys() if graph.get(k).is_materializable}
        assert expected <= listed, sorted(expected - listed)
        checks = {c["name"] for n in nodes for c in (n["assetChecksOrError"].get("checks") or [])}
        expected_checks = {ck.name for k in graph.get_all_asset_keys() for ck in graph.get(k).check_keys}
        assert expected_checks <= checks, sorted(expected_checks - checks)[:10]

        # 2. launch ExioNAICS raw → evaluation and wait for it
        run_id = client.submit_job_execution(
            "exionaics_pipeline", repository_location_name=LOCATION, repository_name=REPO
        )
        status, deadline = None, time.time() + 480
        while time.time() < deadline:
            try:
                status = client.get_run_status(run_id).value
            except DagsterGraphQLClientError:
                status = None
            if status in ("SUCCESS", "FAILURE", "CANCELED"):
                break
            time.sleep(3)
        assert status == "SUCCESS", f"run {run_id} ended {status}; see {tmp_path / 'dagster-dev.log'}"
        assert (tmp_path / "lake" / "objects" / "exionaics_model_evaluation" / "object.pkl").exists()

        # 3. the daemon is healthy and the sensors and schedules are running
        selector = {"repositoryLocationName": LOCATION, "repositoryName": REPO}
        deadline = time.time() + 120
        while True:
            data = client._execute(INSTIGATORS_QUERY, {"selector": selector})
            daemons = {d["daemonType"]: d for d in data["instance"]["daemonHealth"]["allDaemonStatuses"]}
            if all(d["healthy"] for d in daemons.values() if d["required"]) or time.time() > deadline:
                break
            time.sleep(3)
        assert all(d["healthy"] for d in daemons.values() if d["required"]), daemons
        assert {"SENSOR", "SCHEDULER", "ASSET"} <= set(daemons)
        sensors = {s["name"]: s["sensorState"]["status"] for s in data["sensorsOrError"]["results"]}
        schedules = {s["name"]: s["scheduleState"]["status"] for s in data["schedulesOrError"]["results"]}
        assert sensors and all(v == "RUNNING" for v in sensors.values()), sensors
        assert {"exionaics_source_sensor", "platform_automation_sensor"} <= set(sensors)
        assert schedules and all(v == "RUNNING" for v in schedules.values()), schedules
        assert {"nightly_revalidation_schedule", "weekly_retrain_schedule"} <= set(schedules)
    finally:
        _stop(proc)
        log.close()
    assert proc.poll() is not None
