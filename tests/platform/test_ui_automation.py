"""Issue 18: `make ui` alone (webserver + daemon, sensors and declarative automation, no `make run`) brings a
fresh instance and data root to the same complete, green state as `make run`, and recovers from a failed run.

`dagster dev` runs for real on 127.0.0.1 with a temporary DAGSTER_HOME (the shipped `deploy/local/dagster.yaml`,
run queue included) and data root, sources pointed at copies of the samples, and sensors ticking every few
seconds (`CDP_SENSOR_INTERVAL_S`). The test reads the instance's run and event storage directly. Processes are
stopped by their process group."""

import contextlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from dagster_project.settings import REPO_ROOT, SAMPLES_DIR
from tests.platform.test_ui import _stop, _wait_http
from tests.support.moto import free_port

INTERVAL_S = 8
IN_FLIGHT = (
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
)
BAD = (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)


@contextlib.contextmanager
def dagster_dev(tmp_path: Path, sources: dict[str, Path]):
    """`dagster dev` on a fresh DAGSTER_HOME and data root; datasets not in `sources` point at no source (their
    sensors stay idle). Yields (instance, start time)."""
    from dagster_project.datasets import load_datasets

    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO_ROOT / "deploy" / "local" / "dagster.yaml", home / "dagster.yaml")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "CDP_DATA_ROOT": str(tmp_path / "lake"),
        "CDP_WAREHOUSE_PATH": str(tmp_path / "warehouse.duckdb"),
        "CDP_CACHE_DIR": str(tmp_path / "download-cache"),
        "CDP_SENSOR_INTERVAL_S": str(INTERVAL_S),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    for ds in load_datasets():
        env[f"CDP_{ds.name.upper()}_SOURCE"] = str(
            sources.get(ds.name, tmp_path / "no-such-source" / ds.name)
        )
    port = free_port()
    log = open(tmp_path / "dagster-dev.log", "wb")
    dagster = str(Path(sys.executable).with_name("dagster"))
    started = time.time()
    proc = subprocess.Popen(
        [dagster, "dev", "-h", "127.0.0.1", "-p", str(port), "-w", str(REPO_ROOT / "workspace.yaml")],
        cwd=REPO_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # a process group we can signal as a whole
    )
    instance = None
    try:
        _wait_http(f"http://127.0.0.1:{port}/server_info", proc, timeout_s=300)
        instance = dg.DagsterInstance.from_config(str(home))
        yield instance, started, proc
    finally:
        _stop(proc)
        log.close()
        if instance is not None:
            instance.dispose()


def _runs(instance) -> list:
    return [r.dagster_run for r in instance.get_run_records()]


def _step_failed(instance, run_id: str) -> bool:
    return bool(instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_FAILURE))


def _fail_on_bad_runs(instance, tmp_path: Path) -> None:
    """Fails on any run in which a step failed (the platform's own errors). A run that failed before any step
    ran (the launcher or the code server gave up, e.g. on a heavily loaded machine) is the infrastructure's; it
    is counted and printed, and the sensors must still bring everything to success."""
    bad = [r for r in _runs(instance) if r.status in BAD and _step_failed(instance, r.run_id)]
    if bad:
        lines = [f"{r.run_id[:8]} {r.status.value} {dict(r.tags)}" for r in bad]
        pytest.fail("failed runs:\n" + "\n".join(lines) + f"\nsee {tmp_path / 'dagster-dev.log'}")


def _wait(what: str, ready, proc, timeout_s: float, poll_s: float = 3.0) -> float:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"dagster dev exited with {proc.returncode}")
        if ready():
            return time.time()
        time.sleep(poll_s)
    raise TimeoutError(f"{what}: not reached within {timeout_s} s")


def _missing(instance, graph) -> list[str]:
    """Materialisable assets (every partition of partitioned ones) without a materialisation."""
    out = []
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        if not node.is_materializable:
            continue
        if node.partitions_def is None:
            if instance.get_latest_materialization_event(key) is None:
                out.append(key.to_user_string())
        else:
            keys = set(node.partitions_def.get_partition_keys(dynamic_partitions_store=instance))
            done = instance.get_materialized_partitions(key)
            if not keys or keys - done:
                out.append(f"{key.to_user_string()}[{sorted(keys - done)}]")
    return out


def _settled(instance, since: list[float], quiet_s: float) -> bool:
    """No run in flight, and none finished within the last `quiet_s` (sensors and automation had a tick to act)."""
    runs = instance.get_run_records()
    if any(r.dagster_run.status in IN_FLIGHT for r in runs):
        since[0] = time.time()
        return False
    return time.time() - since[0] >= quiet_s


def _partition_runs(instance, dataset: str) -> dict[str, list]:
    out: dict[str, list] = {}
    for r in reversed(_runs(instance)):  # oldest first
        if r.tags.get("cdp/dataset") == dataset and "dagster/partition" in r.tags:
            out.setdefault(r.tags["dagster/partition"], []).append(r)
    return out


@pytest.mark.slow
@pytest.mark.ui
@pytest.mark.timeout(3000)  # a bound, not the expected time (see the measurement printed by the test)
def test_sensors_alone_reach_the_make_run_state_then_ingest_one_changed_partition(tmp_path, dbt_manifest):
    from PIL import Image

    from dagster_project.datasets import load_datasets
    from dagster_project.definitions import defs

    datasets = load_datasets()
    sources = {}
    for ds in datasets:
        sources[ds.name] = tmp_path / "sources" / ds.name
        shutil.copytree(SAMPLES_DIR / ds.name, sources[ds.name])
    graph = defs.resolve_asset_graph()
    evaluations = [k for k in graph.get_all_asset_keys() if k.to_user_string().endswith("_model_evaluation")]
    assert len({graph.get(k).group_name for k in evaluations}) == len(datasets)

    with dagster_dev(tmp_path, sources) as (instance, started, proc):
        quiet = [time.time()]

        def complete() -> bool:
            _fail_on_bad_runs(instance, tmp_path)
            return not _missing(instance, graph) and _settled(instance, quiet, quiet_s=6 * INTERVAL_S)

        _wait("every asset materialised by sensors and automation", complete, proc, timeout_s=2400)
        _fail_on_bad_runs(instance, tmp_path)
        runs = _runs(instance)
        infra = [r for r in runs if r.status in BAD]
        last_eval = max(instance.get_latest_materialization_event(k).timestamp for k in evaluations)
        print(
            f"\n[issue 18] start -> last evaluation {last_eval - started:.0f} s, {len(runs)} runs "
            f"({sum('dagster/partition' in r.tags for r in runs)} partition runs, {len(infra)} failed before any "
            "step ran)"
        )
        # one run per partition, each succeeded
        for ds in datasets:
            if ds.partitions is None:
                continue
            per_part = {
                p: [r for r in v if r.status == dg.DagsterRunStatus.SUCCESS]
                for p, v in _partition_runs(instance, ds.name).items()
            }
            keys = instance.get_dynamic_partitions(ds.partitions.name)
            assert keys and sorted(per_part) == sorted(keys), ds.name
            assert all(len(v) == 1 for v in per_part.values()), {p: len(v) for p, v in per_part.items()}

        # a changed file of one board: exactly one new partition run, for that board, and it succeeds
        before = {r.run_id for r in _runs(instance)}
        rgb = sources["pcbvision"] / "RGB" / "3.jpg"
        Image.open(rgb).convert("RGB").save(rgb, quality=70)  # a re-delivered, re-encoded image of board 3

        def new_partition_run_done() -> bool:
            _fail_on_bad_runs(instance, tmp_path)
            new = [r for r in _runs(instance) if r.run_id not in before and "dagster/partition" in r.tags]
            return any(r.status == dg.DagsterRunStatus.SUCCESS for r in new)

        _wait("the changed board ingested", new_partition_run_done, proc, timeout_s=600)
        time.sleep(
            2 * INTERVAL_S
        )  # two more sensor ticks: any further partition run would have been requested
        _fail_on_bad_runs(instance, tmp_path)
        new = [r for r in _runs(instance) if r.run_id not in before]
        parts = [r for r in new if "dagster/partition" in r.tags and r.status == dg.DagsterRunStatus.SUCCESS]
        assert [(r.tags["cdp/dataset"], r.tags["dagster/partition"]) for r in parts] == [
            ("pcbvision", "pcb3")
        ]
        assert all(r.tags.get("dagster/partition") in (None, "pcb3") for r in new)
        print(f"[issue 18] after the changed board: {len(new)} new runs so far, none failed")


@pytest.mark.slow
@pytest.mark.ui
@pytest.mark.timeout(1500)
def test_a_failed_partition_recovers_by_itself_once_its_file_is_repaired(tmp_path, dbt_manifest):
    from dagster_project.datasets.pcbvision.source import board_of_file

    src = tmp_path / "sources" / "pcbvision"
    shutil.copytree(SAMPLES_DIR / "pcbvision", src)
    for path in sorted(src.rglob("*")):  # two boards are enough: 1 (good) and 3 (broken, then repaired)
        if path.is_file() and board_of_file(path.relative_to(src).as_posix()) not in (None, 1, 3):
            path.unlink()
    header = src / "HSI" / "pcb3" / "pcb3.hdr"
    good = header.read_bytes()
    header.write_bytes(b"this is not an ENVI header\n")  # board 3 arrives broken

    with dagster_dev(tmp_path, {"pcbvision": src}) as (instance, _started, proc):

        def pcb3_runs() -> list:
            return _partition_runs(instance, "pcbvision").get("pcb3", [])

        _wait(
            "board 3's first run failed",
            lambda: any(r.status in BAD for r in pcb3_runs()),
            proc,
            timeout_s=600,
        )
        header.write_bytes(good)  # the source repairs the file; nobody touches Dagster
        _wait(
            "board 3 ingested",
            lambda: any(r.status == dg.DagsterRunStatus.SUCCESS for r in pcb3_runs()),
            proc,
            timeout_s=600,
        )
        statuses = [r.status for r in pcb3_runs()]
        assert statuses == [dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.SUCCESS], statuses
        assert instance.get_materialized_partitions(dg.AssetKey("pcbvision_board_pixels")) >= {"pcb3"}
        # every launch came from a sensor or the automation, none by hand
        assert all("dagster/sensor_name" in r.tags for r in _runs(instance)), [
            dict(r.tags) for r in _runs(instance)
        ]
