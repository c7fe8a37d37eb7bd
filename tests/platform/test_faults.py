"""Crash safety and fault injection (issue 16): a killed run never blocks the next one.

The fast tests drive `dagster_project.recovery` against a real Dagster instance built from the shipped
`deploy/local/dagster.yaml` (runs, concurrency slots and processes are real; a "dead" process is one that has
exited). The fault-injection tests run `python -m dagster_project run <dataset>` as a real process, SIGKILL its
whole process group at a named point (the test-only `CDP_TEST_PAUSE_AT` hook, or the step's STEP_START in the
instance), then run again and check that the next run succeeds within a generous bound, that the raw area holds
exactly the received files, that nothing is half-written, and that the warehouse opens.
"""

import logging
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import dagster as dg
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
    assert left == sorted([f"{host}@{os.getpid()}@b", f"otherhost@{dead_pid}@c"])  # live writer, other host: kept


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
    old = "concurrency:\n  pools:\n    default_limit: 3\ntelemetry:\n  enabled: true\n"
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
