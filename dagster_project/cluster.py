"""The "cluster" deployment profile: the same definitions, executed step by step on Celery workers.

Which executor and which Celery settings: `dagster_project/executor.py` (the `CDP_PROFILE` and `CDP_CELERY_*`
variables are documented there). This module runs jobs on the workers: the definitions with the Celery executor
(`cluster_definitions`, the code pointer every worker loads), one run per call (`materialize`), and several
per-partition runs at once (`map_runs`). It imports the definitions; the definitions never import it.

`resource_hints` moved to `dagster_project/resource_hints.py`; it and the executor functions are re-exported here
until every caller imports them from their own module.
"""

import functools
import json
import multiprocessing
import traceback
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from multiprocessing import connection as mp_connection

import dagster as dg

from dagster_project import settings
from dagster_project.executor import (  # noqa: F401  (re-exported: callers of dagster_project.cluster)
    CLUSTER,
    PROFILE_ENV,
    backend_url,
    broker_url,
    celery_app_args,
    celery_config_source,
    executor,
    executor_config,
    is_cluster,
    job_executor,
    profile,
    visibility_timeout_s,
)
from dagster_project.resource_hints import (  # noqa: F401  (re-exported until the datasets import it directly)
    K8S_CONFIG_TAG,
    QUEUE_TAG,
    resource_hints,
)


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


def reconstructable_asset_job(module: str = "dagster_project.cluster", fn_name: str = "cluster_definitions"):
    """Pointer to the implicit asset job of the definitions returned by `module.fn_name()`: what a Celery worker
    imports to run a step (it must resolve to the same code on every machine)."""
    # Private imports, unavoidable: a Celery worker needs a code pointer to the implicit asset job of a
    # repository built by a function (`module.fn_name`), and Dagster's public API has `reconstructable()` only
    # for a job defined at module scope, which the asset job is not.
    from dagster._core.definitions.assets.job.asset_job import IMPLICIT_ASSET_JOB_NAME
    from dagster._core.definitions.reconstruct import ReconstructableRepository

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
    return settings.cluster_concurrent_runs()


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
