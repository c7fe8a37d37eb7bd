"""Which executor runs the steps: Dagster's default (the embedded profile) or `dagster-celery` (the cluster profile),
and the Celery settings that the orchestrator and the workers share.

`CDP_PROFILE=cluster` makes every job of the code location use the `dagster-celery` executor with a Redis broker
and result backend. Each step becomes a Celery task; any worker that can import `dagster_project` and reach the
same data root (`CDP_DATA_ROOT=s3://...`), the same Dagster instance storage and the same Redis runs it. The
variables are read by `dagster_project.settings`:

| variable | default | meaning |
|---|---|---|
| `CDP_PROFILE` | `embedded` | `cluster` selects the Celery executor (the embedded default runs each run's steps in-process) |
| `CDP_CELERY_BROKER` | `redis://127.0.0.1:6379/0` | Celery broker (Redis) |
| `CDP_CELERY_BACKEND` | `redis://127.0.0.1:6379/1` | Celery result backend (Redis) |
| `CDP_CELERY_VISIBILITY_TIMEOUT_S` | `7200` | seconds before Redis re-delivers an unacknowledged step whose worker vanished; must exceed the longest step |
| `CDP_CLUSTER_CONCURRENT_RUNS` | `4` | per-partition runs that `python -m dagster_project run` orchestrates at once (their steps fan out over the workers) |

Why these Celery settings: with Celery's defaults a task is acknowledged when a worker *receives* it, so a worker
killed mid-step loses the step and the Dagster run waits forever, and a busy worker reserves the next step while
another sits idle. `task_acks_late` (acknowledge after the step), `task_reject_on_worker_lost` (re-queue the step if
its process dies) and a prefetch of 1 fix both (`tests/cluster/test_cluster.py` kills a worker process mid-step and
the run still succeeds); the visibility timeout bounds how long a step of a vanished machine waits before another
worker takes it.

Workers run `celery -A dagster_project.celery_app worker` (see deploy/cluster/cluster.sh), which builds its Celery
app from `celery_app_args()` below: the orchestrator and the workers read the same settings from one place.

This module imports neither the definitions nor Celery at import time, so `definitions.py` can import it without
a cycle (`dagster_project.cluster`, which runs jobs on the workers, imports the definitions).
"""

from typing import Any

import dagster as dg

from dagster_project import settings

CLUSTER = "cluster"
PROFILE_ENV = settings.PROFILE_ENV


def profile() -> str:
    return settings.profile()


def is_cluster() -> bool:
    return profile() == CLUSTER


def broker_url() -> str:
    return settings.celery_broker()


def backend_url() -> str:
    return settings.celery_backend()


def visibility_timeout_s() -> int:
    return settings.celery_visibility_timeout_s()


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


def job_executor() -> dg.ExecutorDefinition:
    """The executor of every job of the code location (`dg.Definitions(executor=...)`; automation runs, which are
    launched without a job's run config, use it too): Celery under the cluster profile, else in-process.

    Why in-process on one machine: Dagster's default multiprocess executor starts a fresh process per step, and
    each one re-imports the definitions (about 5 CPU-seconds: dagster, dbt, the datasets) before doing work that
    takes well under a second on the samples. Measured on `exionaics_pipeline` (8 steps, 2 cores): 92 CPU-s with
    the multiprocess executor, 49 with a forkserver that preloads the definitions, 30 in-process. Steps of one run
    then execute one after the other; runs still execute side by side (the run queue of deploy/local/dagster.yaml),
    and the `duckdb` pool is honoured in-process too. A killed run is detected by its run worker's process, which
    is the same with either executor (dagster_project/recovery.py)."""
    return executor() if is_cluster() else dg.in_process_executor


def celery_app_args() -> dict[str, Any]:
    """Arguments for `dagster_celery.make_app.make_app`, built exactly as the orchestrator's executor builds them,
    so that workers and orchestrator can never disagree on broker, backend or acknowledgement settings."""
    # Private import, unavoidable: dagster-celery's CeleryExecutor (whose app_args() the workers must match) takes
    # Dagster's internal RetryMode, which the public API does not export.
    from dagster._core.execution.retries import RetryMode
    from dagster_celery.executor import CeleryExecutor

    cfg = executor_config()
    return CeleryExecutor(
        retries=RetryMode.ENABLED,
        broker=cfg["broker"],
        backend=cfg["backend"],
        config_source=cfg["config_source"],
    ).app_args()
