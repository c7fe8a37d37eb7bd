"""Crash safety and fault injection (issue 16): a killed run never blocks the next one.

The fast tests drive `dagster_project.recovery` against a real Dagster instance built from the shipped
`deploy/local/dagster.yaml` (runs, concurrency slots and processes are real; a "dead" process is one that has
exited). The fault-injection tests run `python -m dagster_project run <dataset>` as a real process, SIGKILL its
whole process group at a named point (the test-only `CDP_TEST_PAUSE_AT` hook, or the step's STEP_START in the
instance), then run again and check that the next run succeeds within a generous bound, that the raw area holds
exactly the received files, that nothing is half-written, and that the warehouse opens.
"""

import hashlib
import logging
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest
from dagster._core.events import DagsterEvent, DagsterEventType, EngineEventData

from dagster_project import recovery
from dagster_project.storage import TMP_DIR, Lake
from tests.support.runproc import REPO, PlatformDir

POOL = "duckdb"
DBT_STEP = "warehouse_dbt_models"
# A bound on a hang, not a speed check: a run of one small dataset takes 1-3 minutes on two loaded cores.
RUN_BOUND_S = 900


# ---- helpers -----------------------------------------------------------------------------------------------


@pytest.fixture
def platform(tmp_path):
    where = PlatformDir(tmp_path / "platform")
    yield where
    where.close()


def dead_process_tags() -> dict[str, str]:
    """Process tags of a process that really ran on this host and has exited."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    started = recovery._process_started(proc.pid)
    proc.kill()
    proc.wait()
    return {
        recovery.PID_TAG: str(proc.pid),
        recovery.HOST_TAG: recovery.this_host(),
        recovery.PROCESS_STARTED_TAG: f"{started:.3f}",
    }


def started_run(instance: dg.DagsterInstance, tags: dict[str, str]) -> dg.DagsterRun:
    run = instance.add_run(
        dg.DagsterRun(
            job_name="fault_job", run_id=str(uuid.uuid4()), status=dg.DagsterRunStatus.NOT_STARTED, tags=tags
        )
    )
    instance.report_dagster_event(
        DagsterEvent(event_type_value=DagsterEventType.RUN_START.value, job_name="fault_job"), run.run_id
    )
    run = instance.get_run_by_id(run.run_id)
    assert run.status == dg.DagsterRunStatus.STARTED
    return run


def claim(instance: dg.DagsterInstance, run_id: str, step_key: str) -> bool:
    instance.event_log_storage.initialize_concurrency_limit_to_default(POOL)
    return instance.event_log_storage.claim_concurrency_slot(POOL, run_id, step_key).is_claimed


# ---- dead runs, slots, blocked steps (fast) --------------------------------------------------------------


def test_dead_run_is_marked_failed_and_its_slot_freed(platform, capsys):
    instance = platform.instance()
    dead = started_run(instance, dead_process_tags())
    alive = started_run(instance, recovery.process_tags())
    assert claim(instance, dead.run_id, DBT_STEP)
    assert not claim(instance, alive.run_id, DBT_STEP)  # the pool's only slot is taken: this is the hang

    recovered = recovery.recover_dead_runs(instance)

    assert [r.run_id for r in recovered] == [dead.run_id]
    assert instance.get_run_by_id(dead.run_id).status == dg.DagsterRunStatus.FAILURE
    assert instance.get_run_by_id(alive.run_id).status == dg.DagsterRunStatus.STARTED
    line = capsys.readouterr().out
    assert dead.run_id in line and "is gone" in line and f"pid {dead.tags[recovery.PID_TAG]}" in line
    assert "freed pool duckdb" in line
    failure = instance.get_records_for_run(dead.run_id, of_type=DagsterEventType.RUN_FAILURE).records
    assert "crash-safety" in failure[0].event_log_entry.dagster_event.message
    # the waiting step now gets the slot; a second check finds nothing to do
    assert claim(instance, alive.run_id, DBT_STEP)
    assert recovery.recover_dead_runs(instance) == []


def test_finished_run_still_holding_a_slot_releases_it(platform):
    instance = platform.instance()
    run = started_run(instance, recovery.process_tags())
    assert claim(instance, run.run_id, DBT_STEP)
    instance.report_run_failed(run, "failed elsewhere")
    assert recovery.held_slots(instance) == [(POOL, run.run_id, DBT_STEP)]
    recovery.recover_dead_runs(instance, say=lambda _: None)
    assert recovery.held_slots(instance) == []


def test_ui_run_without_tags_is_checked_through_its_event_log_pid(platform):
    """Runs launched from the UI carry no cdp/ tags: the pid comes from Dagster's "Started process" event and the
    host from the code server's gRPC address."""
    instance = platform.instance()
    tags = dead_process_tags()
    run = started_run(instance, {"dagster/grpc_info": '{"host": "localhost", "port": 4266}'})
    instance.report_engine_event(
        f"Started process for run (pid: {tags[recovery.PID_TAG]}).",
        run,
        EngineEventData(metadata={"pid": dg.MetadataValue.text(tags[recovery.PID_TAG])}),
    )
    worker = recovery.run_worker(instance, run)
    assert (worker.pid, worker.host) == (int(tags[recovery.PID_TAG]), recovery.this_host())
    remote = started_run(instance, {"dagster/grpc_info": '{"host": "10.9.8.7", "port": 4266}'})
    instance.report_engine_event("Started process for run (pid: 1).", remote, EngineEventData.in_process(1))

    recovery.recover_dead_runs(instance, say=lambda _: None)

    assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE
    # another host's process cannot be checked from here: left alone
    assert instance.get_run_by_id(remote.run_id).status == dg.DagsterRunStatus.STARTED


def test_shipped_config_lets_the_monitoring_daemon_fail_dead_runs(platform):
    """`make ui`: Dagster's own run monitoring (daemon code, shipped instance config) detects the dead worker."""
    from dagster._daemon.monitoring.run_monitoring import monitor_started_run

    instance = platform.instance()
    assert instance.run_monitoring_enabled
    assert isinstance(instance.run_launcher, recovery.CrashAwareRunLauncher)
    assert instance.run_monitoring_settings["free_slots_after_run_end_seconds"] > 0
    dead = started_run(instance, dead_process_tags())
    alive = started_run(instance, recovery.process_tags())
    for run in (dead, alive):
        monitor_started_run(
            instance, None, instance.get_run_record_by_id(run.run_id), logging.getLogger("test")
        )
    assert instance.get_run_by_id(dead.run_id).status == dg.DagsterRunStatus.FAILURE
    assert instance.get_run_by_id(alive.run_id).status == dg.DagsterRunStatus.STARTED
    failure = instance.get_records_for_run(dead.run_id, of_type=DagsterEventType.RUN_FAILURE).records
    assert "is gone" in failure[0].event_log_entry.dagster_event.message


def test_step_blocked_on_a_pool_is_warned_with_the_holder(platform):
    instance = platform.instance()
    holder = started_run(instance, recovery.process_tags())
    waiter = started_run(instance, recovery.process_tags())
    assert claim(instance, holder.run_id, DBT_STEP)
    assert not claim(instance, waiter.run_id, DBT_STEP)
    (pending,) = [
        p
        for p in instance.event_log_storage.get_concurrency_info(POOL).pending_steps
        if p.run_id == waiter.run_id
    ]
    since = pending.enqueued_timestamp.timestamp()

    # `now` is passed in, so nothing here depends on how long the test takes
    assert recovery.warn_blocked_steps(instance, 60, now=since + 30) == []
    warned: dict = {}
    (blocked,) = recovery.warn_blocked_steps(instance, 60, now=since + 61, warned=warned)
    assert (blocked.run_id, blocked.step_key, blocked.pool) == (waiter.run_id, DBT_STEP, POOL)
    assert blocked.holders == [(holder.run_id, DBT_STEP)]
    assert (
        recovery.warn_blocked_steps(instance, 60, now=since + 62, warned=warned) == []
    )  # not repeated at once

    warnings = [
        r.event_log_entry
        for r in instance.get_records_for_run(waiter.run_id, of_type=DagsterEventType.ENGINE_EVENT).records
        if r.event_log_entry.level == logging.WARNING
    ]
    assert len(warnings) == 1
    text = warnings[0].dagster_event.message
    assert holder.run_id in text and "pool duckdb" in text and "process alive" in text


def test_stale_writes_of_dead_processes_are_swept(lake_local):
    lake_local.write_bytes("t/x.bin", b"x")  # creates the staging folder
    dead_pid = dead_process_tags()[recovery.PID_TAG]
    host = recovery.this_host()
    for name in (f"{host}@{dead_pid}@a", f"{host}@{os.getpid()}@b", f"otherhost@{dead_pid}@c"):
        lake_local.fs.pipe(lake_local.path(TMP_DIR, name), b"partial")
    removed = recovery.sweep_stale_writes(lake_local, say=lambda _: None)
    assert [Path(p).name for p in removed] == [f"{host}@{dead_pid}@a"]
    left = sorted(Path(p).name for p in lake_local.glob(f"{TMP_DIR}/*"))
    assert left == sorted(
        [f"{host}@{os.getpid()}@b", f"otherhost@{dead_pid}@c"]
    )  # live writer, other host: kept


def test_write_into_a_folder_on_another_filesystem(tmp_path):
    """raw/ symlinked to another disk: the staged file cannot be renamed across filesystems, so it is staged
    beside its target instead (here /dev/shm, a tmpfs, when the machine has one)."""
    elsewhere = Path("/dev/shm") if Path("/dev/shm").is_dir() else tmp_path
    other = elsewhere / f"cdp-raw-{uuid.uuid4().hex}"
    other.mkdir()
    try:
        (tmp_path / "lake").mkdir()
        (tmp_path / "lake" / "raw").symlink_to(other)
        lake = Lake(root=str(tmp_path / "lake"))
        lake.write_bytes("raw/ds/a.bin", b"payload")
        assert (other / "ds" / "a.bin").read_bytes() == b"payload"
        assert [p.name for p in (other / "ds").iterdir()] == ["a.bin"]
        assert lake.glob(f"{TMP_DIR}/*") == []
    finally:
        shutil.rmtree(other)


def test_processes_left_by_a_dead_runner_are_stopped(capsys):
    """An OOM kill takes the runner alone: its dbt child lives on (holding DuckDB's lock). The children carry the
    runner's `CDP_RUN_PROCESS` marker, and recovery stops them; other processes are left alone."""
    dead = dead_process_tags()
    worker = recovery.RunWorker(int(dead[recovery.PID_TAG]), recovery.this_host())
    sleeper = [sys.executable, "-c", "import time; time.sleep(300)"]
    env = {**os.environ, recovery.RUN_PROCESS_ENV: f"{worker.host}@{worker.pid}"}
    orphan = subprocess.Popen(sleeper, env=env)
    bystander = subprocess.Popen(sleeper, env={**os.environ, recovery.RUN_PROCESS_ENV: f"{worker.host}@1"})
    try:
        deadline = time.monotonic() + 60
        while _environ(orphan.pid).get(recovery.RUN_PROCESS_ENV) != env[recovery.RUN_PROCESS_ENV]:  # exec'd
            assert time.monotonic() < deadline
            time.sleep(0.05)
        stopped = recovery.stop_leftovers(worker)
        assert len(stopped) == 1 and str(orphan.pid) in stopped[0]
        assert orphan.wait(timeout=30) is not None
        assert bystander.poll() is None
    finally:
        for proc in (orphan, bystander):
            proc.kill()
            proc.wait()


def _environ(pid: int) -> dict:
    import psutil

    try:
        return psutil.Process(pid).environ()
    except psutil.Error:
        return {}


def test_pause_hook_is_inert_unless_set(monkeypatch, lake_local):
    monkeypatch.delenv(recovery.PAUSE_ENV, raising=False)
    lake_local.write_bytes("raw/x/a.csv", b"a")  # passes the hook's point without stopping
    monkeypatch.setenv(recovery.PAUSE_ENV, "write:raw/other/*")
    lake_local.write_bytes("raw/x/b.csv", b"b")  # a pattern that does not match: no pause either
    assert lake_local.read_bytes("raw/x/b.csv") == b"b"


def test_new_instance_settings_reach_an_existing_dagster_home(tmp_path, monkeypatch, capsys):
    """`make ui` copies the config with `cp -n` (never over an existing file): `prepare`, which it runs first, adds
    the blocks an older installed config lacks and keeps the user's own."""
    from dagster_project.__main__ import _ensure_dagster_home

    home = tmp_path / "home"
    home.mkdir()
    shipped_first_line = (REPO / "deploy" / "local" / "dagster.yaml").read_text().partition("\n")[0]
    old = f"{shipped_first_line}\nconcurrency:\n  pools:\n    default_limit: 3\ntelemetry:\n  enabled: true\n"
    (home / "dagster.yaml").write_text(old)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    _ensure_dagster_home()
    assert "run_monitoring" in capsys.readouterr().out
    instance = dg.DagsterInstance.from_config(str(home))
    try:
        assert instance.run_monitoring_enabled
        assert isinstance(instance.run_launcher, recovery.CrashAwareRunLauncher)
        assert instance.get_settings("concurrency")["pools"]["default_limit"] == 3  # the user's value stays
    finally:
        instance.dispose()
    text = (home / "dagster.yaml").read_text()
    assert text.startswith(old)
    _ensure_dagster_home()
    assert (home / "dagster.yaml").read_text() == text  # nothing more to add
    cluster = (REPO / "deploy" / "cluster" / "dagster.yaml").read_text()
    (home / "dagster.yaml").write_text(cluster)
    _ensure_dagster_home()
    assert (home / "dagster.yaml").read_text() == cluster  # not installed from the local config: untouched


# ---- S3: an upload that fails mid-way leaves no object ---------------------------------------------------


@pytest.fixture
def small_parts(monkeypatch):
    """5 MiB multipart blocks (S3's minimum), so a 12 MiB write really starts a multipart upload."""
    import fsspec.config

    monkeypatch.setitem(fsspec.config.conf, "s3", {"default_block_size": 5 * 2**20})


def _multipart_uploads(lake: Lake) -> list:
    import boto3

    bucket, _, prefix = lake.root.removeprefix("s3://").partition("/")
    client = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name="us-east-1")
    return client.list_multipart_uploads(Bucket=bucket, Prefix=prefix).get("Uploads", [])


def test_s3_upload_failing_mid_way_leaves_no_partial_object(lake_s3, small_parts):
    lake_s3.write_bytes("objects/m/object.pkl", b"previous version")
    chunk = os.urandom(2**20)
    with pytest.raises(ConnectionError):
        with lake_s3.atomic_open("objects/m/object.pkl") as f:
            for _ in range(11):  # two 5 MiB parts are uploaded by now
                f.write(chunk)
            assert f.parts, "the upload should be multipart by now"
            raise ConnectionError("network lost mid-upload")
    assert lake_s3.read_bytes("objects/m/object.pkl") == b"previous version"
    with pytest.raises(ConnectionError):
        with lake_s3.atomic_open("objects/new/object.pkl") as f:
            for _ in range(11):
                f.write(chunk)
            raise ConnectionError("network lost mid-upload")
    assert not lake_s3.exists("objects/new/object.pkl")
    assert _multipart_uploads(lake_s3) == []  # the parts were aborted, not left to bill


def test_s3_writer_killed_mid_upload_leaves_no_object(lake_s3, tmp_path):
    """A real process writing 12 MiB (5 MiB parts) is SIGKILLed after its parts went up, before the commit."""
    marker = tmp_path / "paused"
    script = (
        "import os\n"
        "from dagster_project.storage import Lake\n"
        f"lake = Lake(root={lake_s3.root!r})\n"
        "with lake.atomic_open('raw/big/file.bin') as f:\n"
        "    for _ in range(12):\n"
        "        f.write(os.urandom(2**20))\n"
    )
    env = {
        **os.environ,
        "FSSPEC_S3": '{"default_block_size": 5242880}',
        recovery.PAUSE_ENV: "write:raw/big/*",
        recovery.PAUSE_MARKER_ENV: str(marker),
    }
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, env=env)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert proc.poll() is None, "the writer exited before reaching the pause point"
            assert time.monotonic() < deadline, "the writer never reached the pause point"
            time.sleep(0.1)
        assert _multipart_uploads(lake_s3), "parts should have been uploaded before the kill"
    finally:
        proc.kill()
        proc.wait()
    assert not lake_s3.exists("raw/big/file.bin")
    lake_s3.write_bytes("raw/big/file.bin", b"next run")  # and the next writer is not hindered
    assert lake_s3.read_bytes("raw/big/file.bin") == b"next run"


# ---- fault injection: real `python -m dagster_project run` processes -----------------------------------------


def pause_env(where: PlatformDir, point: str) -> dict[str, str]:
    return {recovery.PAUSE_ENV: point, recovery.PAUSE_MARKER_ENV: str(where.root / "paused")}


def wait_paused(where: PlatformDir, run) -> None:
    marker = where.root / "paused"
    run.wait_until(f"pause at {os.environ.get(recovery.PAUSE_ENV, 'the hook')}", marker.exists, RUN_BOUND_S)
    marker.unlink()


def dbt_is_building(run) -> bool:
    import psutil

    try:
        children = psutil.Process(run.proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return False
    for child in children:
        try:
            cmd = " ".join(child.cmdline())
        except psutil.Error:
            continue
        if "dbt" in cmd and " build " in f"{cmd} ":
            return True
    return False


def leftovers_of(run: dg.DagsterRun) -> list[int]:
    """Processes on this host still marked as started by the run's (dead) runner process."""
    import psutil

    marker = f"{run.tags[recovery.HOST_TAG]}@{run.tags[recovery.PID_TAG]}"
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get(recovery.RUN_PROCESS_ENV) == marker:
                found.append(proc.pid)
        except psutil.Error:
            continue
    return found


def in_progress(where: PlatformDir) -> list:
    return where.runs(*recovery.IN_PROGRESS)


def lake_of(where: PlatformDir) -> Lake:
    return Lake(root=str(where.lake))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def staged_writes(where: PlatformDir) -> list[str]:
    return lake_of(where).glob(f"{TMP_DIR}/*") if lake_of(where).exists(TMP_DIR) else []


def assert_raw_is_as_received(where: PlatformDir, dataset: str, complete: bool) -> None:
    """Every file in the raw area is byte-identical to the source file it was copied from; when complete, the
    manifest lists exactly the raw files, with their sha256."""
    lake, source = lake_of(where), REPO / "assets" / dataset
    base = lake.path("raw", dataset)
    raw = {
        lake.relative(p)[len(f"raw/{dataset}/") :]: p
        for p in lake.fs.find(base)
        if "/_history/" not in p and not p.endswith("/_manifest.parquet")
    }
    for rel, path in raw.items():
        assert lake.fs.cat(path) == (source / rel).read_bytes(), (
            f"raw/{dataset}/{rel} differs from the source"
        )
    if complete:
        manifest = lake.read_parquet(f"raw/{dataset}/_manifest.parquet")
        assert dict(zip(manifest["relpath"], manifest["sha256"], strict=True)) == {
            rel: sha256((source / rel).read_bytes()) for rel in raw
        }
        sources = {str(p.relative_to(source)) for p in source.rglob("*") if p.is_file()}
        # Not ingested: the folder's README, and a sample folder's alternative variant in a sub-folder (ExioNAICS
        # reads the files at the top of its source; assets/exionaics/parquet/ is the parquet variant's source).
        not_ingested = {s for s in sources - set(raw) if s != "README.md" and "/" not in s}
        assert not_ingested == set(), not_ingested


def assert_nothing_half_written(where: PlatformDir) -> None:
    lake = lake_of(where)
    for path in lake.fs.find(lake.path()):
        if f"/{TMP_DIR}/" in path:
            continue
        if path.endswith(".parquet"):
            pl.read_parquet(path)  # a truncated file has no valid footer
        elif path.endswith(".pkl"):
            with open(path, "rb") as f:
                pickle.load(f)


def assert_warehouse_opens(where: PlatformDir, table: str | None = None) -> None:
    """Opens a copy of the warehouse as the crash left it (WAL included), so the check changes nothing."""
    if not where.warehouse.exists():
        return
    copy = where.root / f"warehouse-copy-{uuid.uuid4().hex}.duckdb"
    copy.write_bytes(where.warehouse.read_bytes())
    wal = Path(f"{where.warehouse}.wal")
    if wal.exists():
        Path(f"{copy}.wal").write_bytes(wal.read_bytes())
    with duckdb.connect(str(copy)) as con:
        con.execute("select count(*) from information_schema.tables").fetchone()
        if table:
            assert con.execute(f'select count(*) from "{table}"').fetchone()[0] > 0


def step_success_at(where: PlatformDir, run_id: str, step_key: str) -> float:
    records = where.instance().get_records_for_run(run_id, of_type=DagsterEventType.STEP_SUCCESS).records
    (hit,) = [r.event_log_entry.timestamp for r in records if r.event_log_entry.step_key == step_key]
    return hit


def step_success_since(where: PlatformDir, before: set[str], step_key: str) -> float:
    """When `step_key` succeeded in a run not in `before`: a process's runs are its tables run, then its warehouse
    run (dagster_project/runner.py), so the raw copy is not in the run that holds the dbt step."""
    new = [r.run_id for r in where.runs() if r.run_id not in before]
    hits = [
        r.event_log_entry.timestamp
        for run_id in new
        for r in where.instance().get_records_for_run(run_id, of_type=DagsterEventType.STEP_SUCCESS).records
        if r.event_log_entry.step_key == step_key
    ]
    assert len(hits) == 1, (step_key, hits)
    return hits[0]


def marked_failed_at(where: PlatformDir, run_id: str) -> float:
    """When the crash-safety check wrote the dead run's RUN_FAILURE."""
    (record,) = where.instance().get_records_for_run(run_id, of_type=DagsterEventType.RUN_FAILURE).records
    return record.event_log_entry.timestamp


def run_of(where: PlatformDir, before: set[str]) -> dg.DagsterRun:
    """The newest run that was not in `before` (the run a process started)."""
    new = [r for r in where.runs() if r.run_id not in before]
    assert new, "the process has not created a run"
    return new[0]


def recovered_line(output: str, run_id: str) -> str:
    lines = [line for line in output.splitlines() if "[crash-safety]" in line and run_id in line]
    assert lines, f"no crash-safety line about run {run_id}"
    return lines[0]


@pytest.mark.slow
def test_exionaics_killed_while_copying_raw_building_dbt_and_writing_its_model(platform, capsys):
    """One dataset killed at three points in turn; each next run recovers the previous fault (marks the dead run
    failed, frees its slot, sweeps its unfinished write) and gets past where that run died; the last completes.

    (a) raw copying: paused with ExioNAICS.csv staged but not yet renamed into raw/;
    (c) the dbt build: SIGKILL of the runner alone while `dbt build` runs (the run holds the `duckdb` pool's only
        slot, and dbt is orphaned);
    (d) the model step: paused with the fitted model staged but not yet renamed into objects/.
    """
    where, ds, timings = platform, "exionaics", {}

    # (a) raw copying
    killed = where.start(ds, log_name="a", **pause_env(where, "write:raw/exionaics/ExioNAICS.csv"))
    wait_paused(where, killed)
    killed.kill()
    (run_a,) = in_progress(where)  # the dead run is still STARTED in the instance
    assert not lake_of(where).exists("raw/exionaics/ExioNAICS.csv") and len(staged_writes(where)) == 1
    assert_raw_is_as_received(where, ds, complete=False)

    # (c) next run: recovers (a), then is killed while dbt builds
    before, t0 = {r.run_id for r in where.runs()}, time.time()
    killed = where.start(ds, log_name="c")
    killed.wait_until("dbt build running", lambda: dbt_is_building(killed), RUN_BOUND_S)
    run_c = run_of(where, before)
    timings["a"] = (
        marked_failed_at(where, run_a.run_id) - t0,
        step_success_since(where, before, "exionaics_raw_files") - t0,
    )
    killed.kill_runner_only()  # as an OOM kill would: `dbt build` is orphaned and keeps DuckDB's lock
    assert "is gone" in recovered_line(killed.output, run_a.run_id)
    assert where.instance().get_run_by_id(run_a.run_id).status == dg.DagsterRunStatus.FAILURE
    assert [r.run_id for r in in_progress(where)] == [run_c.run_id]
    assert recovery.held_slots(where.instance()) == [
        (POOL, run_c.run_id, DBT_STEP)
    ]  # what made the next run hang
    assert staged_writes(where) == []  # (a)'s unfinished copy was swept
    assert_raw_is_as_received(where, ds, complete=True)
    assert_nothing_half_written(where)

    # (d) next run: recovers (c) (and stops its orphaned dbt, if still running), then is paused writing the
    # fitted model and killed
    before, t0 = {r.run_id for r in where.runs()}, time.time()
    killed = where.start(ds, log_name="d", **pause_env(where, "write:objects/exionaics_naics_classifier/*"))
    wait_paused(where, killed)
    run_d = run_of(where, before)
    timings["c"] = (
        marked_failed_at(where, run_c.run_id) - t0,
        step_success_at(where, run_d.run_id, DBT_STEP) - t0,
    )
    killed.kill()
    assert "freed pool duckdb" in recovered_line(killed.output, run_c.run_id)
    assert leftovers_of(run_c) == []
    assert not lake_of(where).exists("objects/exionaics_naics_classifier/object.pkl")
    assert len(staged_writes(where)) == 1
    assert_nothing_half_written(where)
    assert_warehouse_opens(where, "exionaics_training_set")

    # the last run completes
    before, t0 = {r.run_id for r in where.runs()}, time.time()
    final = where.start(ds, log_name="final")
    assert final.wait(RUN_BOUND_S) == 0, final.output[-4000:]
    timings["d"] = (marked_failed_at(where, run_d.run_id) - t0, time.time() - t0)
    recovered_line(final.output, run_d.run_id)
    assert in_progress(where) == [] and recovery.held_slots(where.instance()) == []
    assert staged_writes(where) == []
    assert_raw_is_as_received(where, ds, complete=True)
    assert_nothing_half_written(where)
    assert_warehouse_opens(where, "exionaics_training_set")
    with open(where.lake / "objects" / "exionaics_naics_classifier" / "object.pkl", "rb") as f:
        assert pickle.load(f) is not None
    with capsys.disabled():
        print(
            "\n[faults] exionaics, seconds from the next run's start: (a) raw copy: dead run marked failed"
            f" {timings['a'][0]:.0f}, raw step done {timings['a'][1]:.0f}; (c) dbt build: marked failed"
            f" {timings['c'][0]:.0f}, dbt step done {timings['c'][1]:.0f}; (d) model write: marked failed"
            f" {timings['d'][0]:.0f}, run complete {timings['d'][1]:.0f}"
        )


@pytest.mark.slow
def test_pcbvision_killed_while_writing_a_partition_table(platform, capsys):
    """(b) a partition table write: paused with board pcb1's pixel table staged, not yet renamed into tables/."""
    where, ds = platform, "pcbvision"
    killed = where.start(ds, log_name="b", **pause_env(where, "write:tables/pcbvision_board_pixels/*"))
    wait_paused(where, killed)
    killed.kill()
    (run_b,) = in_progress(where)
    assert run_b.tags.get("dagster/partition")
    assert lake_of(where).glob("tables/pcbvision_board_pixels/*/data.parquet") == []
    assert len(staged_writes(where)) == 1
    assert_raw_is_as_received(where, ds, complete=True)
    assert_nothing_half_written(where)

    t0 = time.time()
    nxt = where.start(ds, log_name="next")
    assert nxt.wait(RUN_BOUND_S) == 0, nxt.output[-4000:]
    seconds = time.time() - t0
    recovered_line(nxt.output, run_b.run_id)
    marked = marked_failed_at(where, run_b.run_id) - t0
    assert in_progress(where) == [] and recovery.held_slots(where.instance()) == []
    assert staged_writes(where) == []
    boards = {
        p.rsplit("/", 2)[-2] for p in lake_of(where).glob("tables/pcbvision_board_pixels/*/data.parquet")
    }
    assert run_b.tags["dagster/partition"] in boards
    assert_raw_is_as_received(where, ds, complete=True)
    assert_nothing_half_written(where)
    assert_warehouse_opens(where, "pcbvision_training_set")
    with capsys.disabled():
        print(
            f"\n[faults] pcbvision (b) partition write: dead run marked failed {marked:.0f} s, next run complete {seconds:.0f} s"
        )


@pytest.mark.slow
def test_ctrl_c_during_dbt_build_stops_and_leaves_no_started_run(platform, capsys):
    where = platform
    run = where.start("exionaics", log_name="ctrl-c")
    run.wait_until("dbt build running", lambda: dbt_is_building(run), RUN_BOUND_S)
    t0 = time.monotonic()
    run.signal_group(signal.SIGINT)  # what Ctrl-C in a terminal does: the runner and dbt get SIGINT
    rc = run.wait(120)  # a bound on a hang
    seconds = time.monotonic() - t0
    assert rc == 128 + signal.SIGINT, run.output[-3000:]
    assert in_progress(where) == []
    assert recovery.held_slots(where.instance()) == []
    # newest first: the warehouse run that Ctrl-C stopped, then the tables run before it (dagster_project/runner.py)
    stopped, tables = where.runs()
    assert stopped.status in (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)
    assert tables.status == dg.DagsterRunStatus.SUCCESS
    assert_nothing_half_written(where)
    with capsys.disabled():
        print(f"\n[faults] Ctrl-C during dbt build: stopped {seconds:.1f} s after the signal")


@pytest.mark.slow
def test_sigterm_while_waiting_for_the_pool_warns_then_stops(platform, capsys):
    """A live run holds the `duckdb` slot: the runner's dbt step waits, says so at WARNING naming the holder, and
    SIGTERM (which used to be ignored while waiting) stops it, leaving its run CANCELED and its claim gone."""
    where = platform
    instance = where.instance()
    holder = started_run(instance, recovery.process_tags())  # this test process: alive
    assert claim(instance, holder.run_id, DBT_STEP)
    before = {r.run_id for r in where.runs()}
    run = where.start("exionaics", log_name="blocked", **{recovery.BLOCKED_WARN_ENV: "1"})

    def warned() -> bool:
        for r in where.runs():
            if r.run_id in before:
                continue
            for rec in instance.get_records_for_run(r.run_id, of_type=DagsterEventType.ENGINE_EVENT).records:
                entry = rec.event_log_entry
                if entry.level == logging.WARNING and holder.run_id in (entry.dagster_event.message or ""):
                    return True
        return False

    run.wait_until("a WARNING naming the slot's holder", warned, RUN_BOUND_S)
    blocked = run_of(where, before)
    t0 = time.monotonic()
    os.kill(run.proc.pid, signal.SIGTERM)
    rc = run.wait(120)
    seconds = time.monotonic() - t0
    assert rc == 128 + signal.SIGTERM, run.output[-3000:]
    assert f"WARNING: Step {DBT_STEP} of run {blocked.run_id}" in run.output
    assert instance.get_run_by_id(blocked.run_id).status == dg.DagsterRunStatus.CANCELED
    assert [r.run_id for r in in_progress(where)] == [holder.run_id]
    assert recovery.held_slots(instance) == [(POOL, holder.run_id, DBT_STEP)]
    assert recovery.blocked_steps(instance, 0) == []  # its waiting claim is gone too
    with capsys.disabled():
        print(f"\n[faults] SIGTERM while waiting for the pool: stopped {seconds:.1f} s after the signal")
