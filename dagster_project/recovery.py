"""Crash safety: a run whose process is gone never blocks the next one, and a step never waits silently.

- Every run that `python -m dagster_project run` starts carries its process in run tags (`cdp/pid`, `cdp/host`,
  `cdp/process_started`). Runs launched from the UI are found through the pid that Dagster records in their
  event log ("Started process for run (pid: N)") and the host of the code server that started them.
- `recover_dead_runs` (called before the runner starts work) marks every in-progress run whose process is gone
  FAILED, frees its concurrency slots and prints one line per run saying which run and why. It also frees the
  slots still held by runs that already finished. Under `make ui` the same check runs continuously in Dagster's
  run monitoring daemon through `CrashAwareRunLauncher` (configured in `deploy/local/dagster.yaml`).
- `warn_blocked_steps` reports a step that has waited for a concurrency pool for longer than
  `CDP_POOL_BLOCKED_WARN_SECONDS` (default 60) at WARNING, naming the run and step that hold the slot; the
  runner checks in a background thread (`RunnerGuard`), the daemon on every monitoring pass.
- `RunnerGuard` makes Ctrl-C / SIGTERM stop the runner within seconds, even while a step waits for a pool;
  `cancel_own_runs` marks the runs of this process CANCELED and frees their slots.
- `stop_leftovers` stops what a dead runner left running (an orphaned `dbt build` holding DuckDB's lock).

A process is "gone" only when it ran on this host and its pid no longer exists, is a zombie, or now belongs to a
process started later (pid reuse). A run from another host, or one without a recorded pid, is left alone.

Test-only hook: `pause_point(name)` blocks forever at a named point when `CDP_TEST_PAUSE_AT` (an fnmatch
pattern, e.g. `write:raw/exionaics/*`) matches `name`, after creating the file named by
`CDP_TEST_PAUSE_MARKER` (if set). The fault-injection tests use it to SIGKILL a run at an exact point; it does
nothing unless the variable is set.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import psutil
from dagster._core.events import DagsterEvent, DagsterEventType, EngineEventData
from dagster._core.launcher import CheckRunHealthResult, DefaultRunLauncher, WorkerStatus
from dagster._core.storage.tags import GRPC_INFO_TAG

from dagster_project import settings
from dagster_project.faults import PAUSE_ENV, PAUSE_MARKER_ENV, pause_point  # noqa: F401 - re-exported for tests

log = logging.getLogger(__name__)

PID_TAG = "cdp/pid"
HOST_TAG = "cdp/host"
PROCESS_STARTED_TAG = "cdp/process_started"
RUN_PROCESS_ENV = "CDP_RUN_PROCESS"
BLOCKED_WARN_ENV = "CDP_POOL_BLOCKED_WARN_SECONDS"
# A pid whose process was created this much later than the run's worker is a reused pid.
_CLOCK_SLACK_S = 2.0
IN_PROGRESS = (
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
)
FINISHED = (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)


def this_host() -> str:
    return socket.gethostname()


def _process_started(pid: int) -> float | None:
    """Creation time of a live process (None if it is gone or a zombie)."""
    try:
        proc = psutil.Process(pid)
        return None if proc.status() == psutil.STATUS_ZOMBIE else proc.create_time()
    except psutil.Error:
        return None


def process_tags() -> dict[str, str]:
    """Run tags that identify the current process (the run worker of an in-process run)."""
    pid = os.getpid()
    return {
        PID_TAG: str(pid),
        HOST_TAG: this_host(),
        PROCESS_STARTED_TAG: f"{_process_started(pid) or 0:.3f}",
    }


def mark_child_processes() -> None:
    """Every process this one starts from now on (dbt, ...) inherits `CDP_RUN_PROCESS=<host>@<pid>`, so if this
    process is killed alone (an OOM kill), the next run can find and stop what it left running: an orphaned
    `dbt build` would otherwise keep DuckDB's write lock."""
    settings.export_run_process(f"{this_host()}@{os.getpid()}")


def stop_leftovers(worker: RunWorker, wait_s: float = 10.0) -> list[str]:
    """Terminate (then kill) the processes on this host still marked as started by the dead `worker`."""
    if worker.pid is None or worker.host is None or worker.host.lower() not in _local_hosts():
        return []
    marker = f"{worker.host}@{worker.pid}"
    found = []
    for proc in psutil.process_iter(["pid", "name"]):
        try:
            if proc.pid == os.getpid() or proc.environ().get(RUN_PROCESS_ENV) != marker:
                continue
            found.append((proc, f"process {proc.pid} ({' '.join(proc.cmdline())[:80]})"))
        except psutil.Error:  # gone meanwhile, or not ours to read
            continue
    for proc, _ in found:
        try:
            proc.terminate()
        except psutil.Error:
            pass
    _, alive = psutil.wait_procs([p for p, _ in found], timeout=wait_s)
    for proc in alive:
        try:
            proc.kill()
        except psutil.Error:
            pass
    return [text for _, text in found]


@dataclass
class RunWorker:
    """The process a run executes in, as far as the instance knows it."""

    pid: int | None
    host: str | None
    started: float | None = None  # the process's creation time, when recorded
    source: str = ""

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host}" if self.pid else "no recorded process"


def _local_hosts() -> set[str]:
    names = {"localhost", "127.0.0.1", "::1", this_host(), socket.getfqdn()}
    return {n.lower() for n in names if n}


def _instance_is_local(instance: dg.DagsterInstance) -> bool:
    # SQLite / in-memory storage lives on this machine, so the runs it records were started here.
    name = type(instance.run_storage).__name__
    return name.startswith(("Sqlite", "InMemory"))


def run_worker(instance: dg.DagsterInstance, run: dg.DagsterRun) -> RunWorker:
    tags = run.tags
    if PID_TAG in tags:
        started = float(tags.get(PROCESS_STARTED_TAG) or 0) or None
        return RunWorker(int(tags[PID_TAG]), tags.get(HOST_TAG), started, "run tags")
    # Launched elsewhere (UI, daemon): Dagster records the worker's pid in engine events; the last one wins
    # (a resumed run has a new worker).
    pid = None
    records = instance.get_records_for_run(run.run_id, of_type=DagsterEventType.ENGINE_EVENT).records
    for record in records:
        event = record.event_log_entry.dagster_event
        data = event.event_specific_data if event else None
        md = getattr(data, "metadata", None) or {}
        if "pid" in md:
            try:
                pid = int(md["pid"].value)
            except (TypeError, ValueError):
                continue
    if pid is None:
        return RunWorker(None, None, source="no pid recorded")
    host = None
    grpc = tags.get(GRPC_INFO_TAG)
    if grpc:
        import json

        info = json.loads(grpc)
        # a unix socket is always local; a TCP code server is local when its host is
        host = (
            this_host()
            if "socket" in info or info.get("host", "").lower() in _local_hosts()
            else info["host"]
        )
    elif _instance_is_local(instance):
        host = this_host()
    return RunWorker(pid, host, None, "event log")


def process_alive(worker: RunWorker, run_started: float | None = None) -> bool | None:
    """True / False when the worker ran on this host, None when that cannot be known here."""
    if worker.pid is None or worker.host is None or worker.host.lower() not in _local_hosts():
        return None
    try:
        proc = psutil.Process(worker.pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        created = proc.create_time()
    except psutil.NoSuchProcess:
        return False
    except psutil.Error:
        return None
    if worker.started is not None:
        return abs(created - worker.started) <= _CLOCK_SLACK_S
    # No creation time recorded: a process created after the run started cannot be its worker.
    return run_started is None or created <= run_started + _CLOCK_SLACK_S


def _run_started(instance: dg.DagsterInstance, run_id: str) -> float | None:
    record = instance.get_run_record_by_id(run_id)
    return record.start_time if record else None


def held_slots(instance: dg.DagsterInstance, run_id: str | None = None) -> list[tuple[str, str, str]]:
    """(pool, run_id, step_key) of every claimed concurrency slot (of one run, if given)."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return []
    out = []
    for pool in sorted(storage.get_concurrency_keys()):
        for slot in storage.get_concurrency_info(pool).claimed_slots:
            if run_id is None or slot.run_id == run_id:
                out.append((pool, slot.run_id, slot.step_key))
    return out


def _free(instance: dg.DagsterInstance, run_id: str) -> list[tuple[str, str, str]]:
    slots = held_slots(instance, run_id)
    if instance.event_log_storage.supports_global_concurrency_limits:
        instance.event_log_storage.free_concurrency_slots_for_run(run_id)
    return slots


def _slots_text(slots: list[tuple[str, str, str]]) -> str:
    if not slots:
        return "no concurrency slots held"
    return "freed " + ", ".join(f"pool {pool} (step {step})" for pool, _, step in slots)


@dataclass
class Recovered:
    run_id: str
    status_before: str
    reason: str
    freed: list[tuple[str, str, str]] = field(default_factory=list)

    def line(self) -> str:
        return (
            f"[crash-safety] run {self.run_id} was {self.status_before} but {self.reason}: marked "
            f"{'CANCELED' if self.status_before == 'CANCELING' else 'FAILED'}; {_slots_text(self.freed)}"
        )


def recover_dead_runs(instance: dg.DagsterInstance, say: Callable[[str], None] = print) -> list[Recovered]:
    """Mark every in-progress run whose process is gone failed (canceled if it was canceling), free its
    concurrency slots, and free the slots of runs that have already finished. One line per run to `say`."""
    recovered: list[Recovered] = []
    for record in instance.get_run_records(filters=dg.RunsFilter(statuses=list(IN_PROGRESS))):
        run = record.dagster_run
        worker = run_worker(instance, run)
        if process_alive(worker, record.start_time) is not False:
            continue
        reason = f"its process ({worker.describe()}) is gone (killed or crashed)"
        message = f"Marked by the crash-safety check: {reason}."
        if run.status == dg.DagsterRunStatus.CANCELING:
            instance.report_run_canceled(run, message)
        else:
            instance.report_run_failed(run, message)
        item = Recovered(run.run_id, run.status.value, reason, _free(instance, run.run_id))
        recovered.append(item)
        say(item.line())
        for leftover in stop_leftovers(worker):
            say(f"[crash-safety] stopped {leftover}, left running by dead run {run.run_id}")
    storage = instance.event_log_storage
    if storage.supports_global_concurrency_limits:
        holders = {run_id for _, run_id, _ in held_slots(instance)} | set(storage.get_concurrency_run_ids())
        for run_id in sorted(holders - {r.run_id for r in recovered}):
            run = instance.get_run_by_id(run_id)
            if run is None or run.status in FINISHED:
                state = "deleted" if run is None else run.status.value
                item = Recovered(run_id, state, "it had already finished", _free(instance, run_id))
                if item.freed:
                    recovered.append(item)
                    say(f"[crash-safety] run {run_id} ({state}) still held slots: {_slots_text(item.freed)}")
    return recovered


def cancel_own_runs(
    instance: dg.DagsterInstance, reason: str, say: Callable[[str], None] = print
) -> list[str]:
    """Mark the in-progress runs of this process CANCELED and free their slots (after Ctrl-C / SIGTERM)."""
    pid = str(os.getpid())
    done = []
    for record in instance.get_run_records(
        filters=dg.RunsFilter(statuses=list(IN_PROGRESS), tags={PID_TAG: pid})
    ):
        run = record.dagster_run
        if run.tags.get(HOST_TAG) != this_host():
            continue
        instance.report_run_canceled(run, f"Canceled: {reason}.")
        freed = _free(instance, run.run_id)
        say(f"[crash-safety] run {run.run_id} canceled ({reason}); {_slots_text(freed)}")
        done.append(run.run_id)
    return done


def sweep_stale_writes(lake, say: Callable[[str], None] = print) -> list[str]:
    """Remove the temporary files of local writers on this host that died mid-write (`Lake.atomic_open` stages
    bytes in `<root>/_tmp/<host>@<pid>@<uuid>`). A file whose writer is alive, or on another host, stays."""
    from dagster_project.storage import TMP_DIR

    if not getattr(lake, "is_local", False) or not lake.exists(TMP_DIR):
        return []
    removed = []
    for path in lake.glob(f"{TMP_DIR}/*"):
        host, _, rest = Path(path).name.partition("@")
        pid_text = rest.partition("@")[0]
        if host != this_host() or not pid_text.isdigit():
            continue
        try:
            written = os.path.getmtime(path)
        except FileNotFoundError:  # its writer just committed it
            continue
        started = _process_started(int(pid_text))
        # gone, or the pid now belongs to a process started after the file was last written
        if started is None or started > written + _CLOCK_SLACK_S:
            try:
                os.remove(path)
            except FileNotFoundError:
                continue
            removed.append(path)
    if removed:
        say(
            f"[crash-safety] removed {len(removed)} unfinished write(s) of dead processes from {lake.url(TMP_DIR)}"
        )
    return removed


def before_run(
    instance: dg.DagsterInstance, lake=None, say: Callable[[str], None] = print
) -> list[Recovered]:
    """The runner's hook: recover dead runs and sweep their unfinished writes before starting work."""
    mark_child_processes()
    recovered = recover_dead_runs(instance, say)
    if lake is not None:
        sweep_stale_writes(lake, say)
    return recovered


# ---- steps waiting for a pool ----------------------------------------------------------------------------


@dataclass
class BlockedStep:
    run_id: str
    step_key: str
    pool: str
    waited_s: float
    holders: list[tuple[str, str]]  # (run_id, step_key) holding the pool's slots

    def message(self, instance: dg.DagsterInstance) -> str:
        held = []
        for run_id, step_key in self.holders:
            run = instance.get_run_by_id(run_id)
            status = run.status.value if run else "unknown run"
            alive = process_alive(run_worker(instance, run), _run_started(instance, run_id)) if run else None
            proc = {True: "process alive", False: "process gone", None: "process not checkable here"}[alive]
            held.append(f"run {run_id} step {step_key} ({status}, {proc})")
        who = "; ".join(held) or "no run (the pool's limit may be 0)"
        return (
            f"Step {self.step_key} of run {self.run_id} has waited {self.waited_s:.0f} s for pool "
            f"{self.pool}; the slot is held by {who}."
        )


def blocked_steps(
    instance: dg.DagsterInstance,
    older_than_s: float,
    run_ids: set[str] | None = None,
    now: float | None = None,
) -> list[BlockedStep]:
    """Steps that have waited for a concurrency pool for longer than `older_than_s` (of some runs, if given)."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return []
    now = time.time() if now is None else now
    out = []
    for pool in sorted(storage.get_concurrency_keys()):
        info = storage.get_concurrency_info(pool)
        holders = [(s.run_id, s.step_key) for s in info.claimed_slots]
        for pending in info.pending_steps:
            if pending.assigned_timestamp is not None or (
                run_ids is not None and pending.run_id not in run_ids
            ):
                continue
            waited = now - pending.enqueued_timestamp.timestamp()
            if waited > older_than_s:
                out.append(BlockedStep(pending.run_id, pending.step_key, pool, waited, holders))
    return out


def blocked_warn_seconds() -> float:
    return settings.pool_blocked_warn_seconds()


def warn_blocked_steps(
    instance: dg.DagsterInstance,
    older_than_s: float | None = None,
    run_ids: set[str] | None = None,
    now: float | None = None,
    warned: dict | None = None,
    repeat_s: float = 300,
) -> list[BlockedStep]:
    """Log each blocked step at WARNING (Python logging and the run's event log), at most once per `repeat_s`
    per step when `warned` (a dict kept by the caller) is given. Returns the steps it warned about."""
    older_than_s = blocked_warn_seconds() if older_than_s is None else older_than_s
    now = time.time() if now is None else now
    out = []
    for step in blocked_steps(instance, older_than_s, run_ids, now):
        key = (step.run_id, step.step_key)
        if warned is not None and now - warned.get(key, -1e18) < repeat_s:
            continue
        if warned is not None:
            warned[key] = now
        text = step.message(instance)
        log.warning(text)
        run = instance.get_run_by_id(step.run_id)
        if run is not None:
            event = DagsterEvent(
                event_type_value=DagsterEventType.ENGINE_EVENT.value,
                job_name=run.job_name,
                message=text,
                event_specific_data=EngineEventData(metadata={"pool": step.pool}),
                step_key=step.step_key,
            )
            instance.report_dagster_event(event, run_id=run.run_id, log_level=logging.WARNING)
        out.append(step)
    return out


_ACTIVE_GUARD: RunnerGuard | None = None


def _term_as_interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def raise_if_interrupted() -> None:
    """The runner calls this before each run: after Ctrl-C / SIGTERM no further run starts."""
    if _ACTIVE_GUARD is not None and _ACTIVE_GUARD.interrupted.is_set():
        raise KeyboardInterrupt(f"signal {_ACTIVE_GUARD.signum}")


class RunnerGuard:
    """Watches `python -m dagster_project run` from a background thread:

    - every `warn_every_s`, warns (WARNING, with the holder) about its steps blocked on a pool;
    - on SIGINT / SIGTERM (seen through `signal.set_wakeup_fd`, whichever Python handler Dagster has installed
      at that moment; SIGTERM is made to behave like Ctrl-C): Dagster interrupts a running step itself, but a
      step waiting for a pool slot never notices. So when one of this process's steps is waiting, or Dagster has
      not stopped within `grace_s`, the guard marks this process's runs CANCELED, frees their slots and exits
      (128 + signal). No step is running in-process at that point, and every write is atomic anyway.
    """

    def __init__(
        self,
        instance: dg.DagsterInstance,
        warn_every_s: float = 10.0,
        grace_s: float = 20.0,
        say: Callable[[str], None] = print,
    ):
        self.instance = instance
        self.warn_every_s = warn_every_s
        self.grace_s = grace_s
        self.say = say
        self.interrupted = threading.Event()
        self.signum: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="cdp-runner-guard", daemon=True)
        self._warned: dict = {}
        self._interrupted_at = 0.0

    def _own_runs(self) -> set[str]:
        filters = dg.RunsFilter(statuses=list(IN_PROGRESS), tags={PID_TAG: str(os.getpid())})
        return {r.dagster_run.run_id for r in self.instance.get_run_records(filters=filters)}

    def _loop(self) -> None:
        import select

        next_warn = time.monotonic() + self.warn_every_s
        while not self._stop.is_set():
            ready, _, _ = select.select([self._rsock], [], [], 0.5)
            if ready:
                try:
                    data = self._rsock.recv(64)
                except OSError:
                    data = b""
                for signum in (signal.SIGINT, signal.SIGTERM):
                    if signum in data and not self.interrupted.is_set():
                        self.signum = signum
                        self._interrupted_at = time.monotonic()
                        self.interrupted.set()
                        self.say(f"[crash-safety] {signal.Signals(signum).name} received: stopping this run")
            try:
                if self.interrupted.is_set():
                    waiting = blocked_steps(self.instance, 0, self._own_runs())
                    if waiting or time.monotonic() - self._interrupted_at > self.grace_s:
                        self._hard_stop(
                            "waiting for a pool slot" if waiting else "Dagster did not stop in time"
                        )
                elif time.monotonic() >= next_warn:
                    next_warn = time.monotonic() + self.warn_every_s
                    runs = self._own_runs()
                    if runs:
                        for step in warn_blocked_steps(self.instance, run_ids=runs, warned=self._warned):
                            self.say(f"WARNING: {step.message(self.instance)}")
            except Exception as exc:  # the guard must never take the run down
                log.debug("runner guard: %s", exc)

    def _hard_stop(self, why: str) -> None:
        name = signal.Signals(self.signum or signal.SIGINT).name
        cancel_own_runs(self.instance, f"{name} while {why}", self.say)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(128 + (self.signum or signal.SIGINT))

    def __enter__(self) -> RunnerGuard:
        global _ACTIVE_GUARD
        self._rsock, self._wsock = socket.socketpair()
        self._wsock.setblocking(False)
        self._prev_fd = signal.set_wakeup_fd(self._wsock.fileno(), warn_on_full_buffer=False)
        self._prev_term = signal.signal(signal.SIGTERM, _term_as_interrupt)
        _ACTIVE_GUARD = self
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        global _ACTIVE_GUARD
        self._stop.set()
        self._thread.join(timeout=5)
        _ACTIVE_GUARD = None
        signal.set_wakeup_fd(self._prev_fd)
        signal.signal(signal.SIGTERM, self._prev_term)
        self._rsock.close()
        self._wsock.close()


# ---- Dagster run monitoring (make ui) --------------------------------------------------------------------


class CrashAwareRunLauncher(DefaultRunLauncher):
    """Dagster's default launcher plus a worker health check, so the run monitoring daemon (enabled in
    `deploy/local/dagster.yaml`) marks a run whose process is gone failed; the daemon then frees its slots
    (`free_slots_after_run_end_seconds`). Each check also warns about the run's steps blocked on a pool."""

    def __init__(self, inst_data=None):
        super().__init__(inst_data=inst_data)
        self._warned: dict = {}

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: dg.DagsterRun) -> CheckRunHealthResult:
        instance = self._instance
        try:
            warn_blocked_steps(instance, run_ids={run.run_id}, warned=self._warned)
        except Exception as exc:  # a warning must never fail the health check
            log.debug("blocked-step check of %s: %s", run.run_id, exc)
        worker = run_worker(instance, run)
        alive = process_alive(worker, _run_started(instance, run.run_id))
        if alive is None:
            return CheckRunHealthResult(WorkerStatus.UNKNOWN, f"cannot check {worker.describe()} from here")
        if alive:
            return CheckRunHealthResult(WorkerStatus.RUNNING, worker.describe())
        return CheckRunHealthResult(
            WorkerStatus.FAILED,
            f"run {run.run_id}: its process ({worker.describe()}) is gone (killed or crashed)",
        )
