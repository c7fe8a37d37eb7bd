"""The "cluster" deployment profile: the same definitions, executed step by step on Celery workers.

`CDP_PROFILE=cluster` makes every job of the code location use the `dagster-celery` executor with a Redis broker
and result backend. Each step becomes a Celery task; any worker that can import `dagster_project` and reach the
same data root (`CDP_DATA_ROOT=s3://...`), the same Dagster instance storage and the same Redis runs it.

| variable | default | meaning |
|---|---|---|
| `CDP_PROFILE` | `embedded` | `cluster` selects the Celery executor (the embedded default keeps Dagster's multiprocess executor) |
| `CDP_CELERY_BROKER` | `redis://127.0.0.1:6379/0` | Celery broker (Redis) |
| `CDP_CELERY_BACKEND` | `redis://127.0.0.1:6379/1` | Celery result backend (Redis) |
| `CDP_CELERY_VISIBILITY_TIMEOUT_S` | `7200` | seconds before Redis re-delivers an unacknowledged step whose worker vanished; must exceed the longest step |
| `CDP_CLUSTER_CONCURRENT_RUNS` | `4` | per-partition runs that `python -m dagster_project run` orchestrates at once (their steps fan out over the workers) |

Why these Celery settings (measured in the scale-out research notes, scaleout.md §A): with Celery's defaults a task is
acknowledged when a worker *receives* it, so a worker killed mid-step loses the step and the Dagster run waits
forever, and a busy worker reserves the next step while another sits idle. `task_acks_late` (acknowledge after the
step), `task_reject_on_worker_lost` (re-queue the step if its process dies) and a prefetch of 1 fix both; the
visibility timeout bounds how long a step of a vanished machine waits before another worker takes it.

Workers run `celery -A dagster_project.celery_app worker` (see deploy/cluster/cluster.sh), which builds its Celery
app from `celery_app_args()` below: the orchestrator and the workers read the same settings from one place.
"""

import functools
import json
import multiprocessing
import os
import traceback
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from multiprocessing import connection as mp_connection
from typing import Any

import dagster as dg

PROFILE_ENV = "CDP_PROFILE"
CLUSTER = "cluster"
QUEUE_TAG = (
    "dagster-celery/queue"  # == dagster_celery.tags.DAGSTER_CELERY_QUEUE_TAG (not imported: keep this light)
)
K8S_CONFIG_TAG = "dagster-k8s/config"


def profile() -> str:
    return (os.environ.get(PROFILE_ENV) or "embedded").strip().lower()


def is_cluster() -> bool:
    return profile() == CLUSTER


def broker_url() -> str:
    return os.environ.get("CDP_CELERY_BROKER") or "redis://127.0.0.1:6379/0"


def backend_url() -> str:
    return os.environ.get("CDP_CELERY_BACKEND") or "redis://127.0.0.1:6379/1"


def visibility_timeout_s() -> int:
    return int(os.environ.get("CDP_CELERY_VISIBILITY_TIMEOUT_S") or 7200)


def celery_config_source() -> dict[str, Any]:
    """Celery settings shared by the orchestrator (run config) and the workers (their app config)."""
    return {
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        # Replaces dagster-celery's default dict as a whole, so its retry settings are repeated here.
        "broker_transport_options": {
            "visibility_timeout": visibility_timeout_s(),
            "max_retries": 3,
            "interval_start": 0,
            "interval_step": 0.2,
            "interval_max": 0.5,
        },
        # The same visibility timeout for the result backend's pub/sub of the orchestrator.
        "result_backend_transport_options": {"visibility_timeout": visibility_timeout_s()},
        "worker_hijack_root_logger": False,
    }


def executor_config() -> dict[str, Any]:
    """The `execution: config:` block of a cluster run (shown in the launchpad for every run)."""
    return {"broker": broker_url(), "backend": backend_url(), "config_source": celery_config_source()}


def executor() -> dg.ExecutorDefinition:
    """The Celery executor, configured from the environment. RetryPolicy stays honoured (retries enabled)."""
    from dagster_celery import celery_executor

    return celery_executor.configured(executor_config(), name="celery")


def executor_or_default() -> dg.ExecutorDefinition | None:
    """For `dg.Definitions(executor=...)`: Celery under the cluster profile, else None (Dagster's default)."""
    return executor() if is_cluster() else None


def celery_app_args() -> dict[str, Any]:
    """Arguments for `dagster_celery.make_app.make_app`, built exactly as the orchestrator's executor builds them,
    so that workers and orchestrator can never disagree on broker, backend or acknowledgement settings."""
    from dagster._core.execution.retries import RetryMode
    from dagster_celery.executor import CeleryExecutor

    cfg = executor_config()
    return CeleryExecutor(
        retries=RetryMode.ENABLED,
        broker=cfg["broker"],
        backend=cfg["backend"],
        config_source=cfg["config_source"],
    ).app_args()


def cluster_definitions() -> dg.Definitions:
    """The platform's definitions with the Celery executor, whatever `CDP_PROFILE` said when
    `dagster_project.definitions` was imported. Code pointer of the cluster runner's runs (orchestrator and
    workers both load it), so a process that imported the embedded definitions earlier still runs on Celery."""
    return _definitions_with_executor(json.dumps(executor_config(), sort_keys=True))


@functools.cache
def _definitions_with_executor(_executor_config_key: str) -> dg.Definitions:
    # Cached per executor configuration: building the repository for every step would cost seconds.
    from dagster_project.definitions import defs

    return dg.Definitions(
        assets=defs.assets,
        asset_checks=defs.asset_checks,
        schedules=defs.schedules,
        sensors=defs.sensors,
        jobs=defs.jobs,
        resources=defs.resources,
        loggers=defs.loggers,
        executor=executor(),
    )


def resource_hints(
    *, cpu: str | None = None, memory: str | None = None, queue: str | None = None
) -> dict[str, Any]:
    """Op tags that say what a heavy step needs, for `@dg.asset(op_tags=resource_hints(cpu="2", memory="8Gi"))`.

    - `cdp/cpu`, `cdp/memory`: the platform's own record of the hint (shown on the step in the UI).
    - `dagster-k8s/config`: the same numbers as Kubernetes requests/limits, applied by `dagster-k8s`
      (`k8s_job_executor` or `K8sRunLauncher`) when the platform runs there; ignored elsewhere.
    - `dagster-celery/queue` (optional): route the step to a Celery queue served by workers on big machines, e.g.
      `queue="highmem"` with `celery ... worker -Q highmem` on those hosts.
    """
    tags: dict[str, Any] = {}
    resources: dict[str, dict[str, str]] = {}
    if cpu:
        tags["cdp/cpu"] = cpu
        resources.setdefault("requests", {})["cpu"] = cpu
    if memory:
        tags["cdp/memory"] = memory
        resources.setdefault("requests", {})["memory"] = memory
        # A memory limit equal to the request: the pod is killed, not the node, if the estimate was wrong.
        resources.setdefault("limits", {})["memory"] = memory
    if resources:
        tags[K8S_CONFIG_TAG] = {"container_config": {"resources": resources}}
    if queue:
        tags[QUEUE_TAG] = queue
    return tags


def reconstructable_asset_job(module: str = "dagster_project.cluster", fn_name: str = "cluster_definitions"):
    """Pointer to the implicit asset job of the definitions returned by `module.fn_name()`: what a Celery worker
    imports to run a step (it must resolve to the same code on every machine)."""
    from dagster._core.definitions.assets.job.asset_job import IMPLICIT_ASSET_JOB_NAME
    from dagster._core.definitions.reconstruct import ReconstructableRepository

    from dagster_project import settings

    repo = ReconstructableRepository.for_module(module, fn_name, working_directory=str(settings.REPO_ROOT))
    return repo.get_reconstructable_job(IMPLICIT_ASSET_JOB_NAME)


def materialize(
    keys: list[dg.AssetKey],
    instance: dg.DagsterInstance,
    *,
    partition_key: str | None = None,
    tags: Mapping[str, str] | None = None,
    module: str = "dagster_project.cluster",
    fn_name: str = "cluster_definitions",
):
    """Materialise `keys` in one run whose steps execute on the Celery workers (this process orchestrates).
    Resources come from the environment of each worker (`CDP_DATA_ROOT`, `CDP_WAREHOUSE_PATH`, ...), which must
    therefore be the same everywhere. Returns dagster's `ExecuteJobResult` (events, success)."""
    run_tags = dict(tags or {})
    if partition_key is not None:
        run_tags["dagster/partition"] = partition_key
    with warnings.catch_warnings():
        # dagster-celery re-registers its task on every submission and celery warns each time; harmless.
        warnings.filterwarnings("ignore", message=r"(?s).*Task name 'execute_plan' is already registered")
        return dg.execute_job(
            reconstructable_asset_job(module, fn_name),
            instance,
            tags=run_tags,
            asset_selection=list(keys),
            raise_on_error=False,
        )


def concurrent_runs() -> int:
    return max(1, int(os.environ.get("CDP_CLUSTER_CONCURRENT_RUNS") or 4))


class StoredRunResult:
    """The outcome of a run executed in another process, read back from the instance: the same accessors as
    dagster's `ExecuteJobResult` that callers use (`success`, `run_id`, `dagster_run`, `all_events`,
    `get_asset_materialization_events()`, `get_asset_check_evaluations()`)."""

    def __init__(self, instance: dg.DagsterInstance, run_id: str) -> None:
        self.run_id = run_id
        self.dagster_run = instance.get_run_by_id(run_id)
        self.all_events = [r.dagster_event for r in instance.all_logs(run_id) if r.is_dagster_event]

    @property
    def success(self) -> bool:
        return self.dagster_run.is_success

    def get_asset_materialization_events(self) -> list:
        return [e for e in self.all_events if e.event_type_value == "ASSET_MATERIALIZATION"]

    def get_asset_check_evaluations(self) -> list:
        return [
            e.asset_check_evaluation_data
            for e in self.all_events
            if e.event_type_value == "ASSET_CHECK_EVALUATION"
        ]


def _run_in_child(fn: Callable, item, conn) -> None:
    try:
        conn.send(("ok", fn(item).run_id))
    except BaseException:  # noqa: BLE001 - reported to the parent, which raises it
        conn.send(("error", traceback.format_exc()))
    finally:
        conn.close()


def map_runs(fn: Callable, items: Iterable, instance: dg.DagsterInstance) -> Iterator:
    """`map(fn, items)` in order, where each `fn(item)` executes one run and returns its result.

    Under the cluster profile up to `concurrent_runs()` calls run at once, each in a forked process that only
    orchestrates (submits steps, waits for results) while the Celery workers do the work: a partitioned stage fans
    out over every worker. Processes, not threads: dagster reconfigures `logging` when a run starts, which
    deadlocks concurrent runs in one process. The results are read back from the shared instance. Embedded: one
    call after another, in this process, as before."""
    items = list(items)
    if not is_cluster() or len(items) < 2:
        yield from map(fn, items)
        return
    ctx = multiprocessing.get_context("fork")  # fork: the definitions are already imported here
    pending = list(enumerate(items))
    running: dict[int, tuple] = {}
    done: dict[int, StoredRunResult] = {}
    next_index = 0
    while next_index < len(items):
        while pending and len(running) < concurrent_runs():
            index, item = pending.pop(0)
            recv, send = ctx.Pipe(duplex=False)
            proc = ctx.Process(target=_run_in_child, args=(fn, item, send), name=f"cdp-run-{index}")
            proc.start()
            send.close()
            running[index] = (proc, recv)
        ready = mp_connection.wait([recv for _, recv in running.values()])
        for index, (proc, recv) in list(running.items()):
            if recv not in ready:
                continue
            try:
                status, value = recv.recv()
            except EOFError:
                status, value = "error", "the process orchestrating the run died without a result"
            proc.join()
            del running[index]
            if status != "ok":
                for other, _ in running.values():  # no orphans: stop the other orchestrators by PID
                    other.terminate()
                raise RuntimeError(f"run for {items[index]!r} could not be executed:\n{value}")
            done[index] = StoredRunResult(instance, value)
        while next_index in done:
            yield done.pop(next_index)
            next_index += 1
