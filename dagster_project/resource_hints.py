"""What a heavy step needs, as op tags: `@dg.asset(op_tags=resource_hints(cpu="2", memory="8Gi"))`.

Plain tags, read by whatever runs the step: the platform's own `cdp/*` record (shown on the step in the UI),
`dagster-k8s` (Kubernetes requests/limits) and `dagster-celery` (the queue). Nothing here imports Dagster, Celery or
Kubernetes, so every dataset can import it for free.
"""

from typing import Any

CPU_TAG = "cdp/cpu"
MEMORY_TAG = "cdp/memory"
K8S_CONFIG_TAG = "dagster-k8s/config"  # read by dagster-k8s (k8s_job_executor, K8sRunLauncher)
QUEUE_TAG = (
    "dagster-celery/queue"  # == dagster_celery.tags.DAGSTER_CELERY_QUEUE_TAG (not imported: keep this light)
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
        tags[CPU_TAG] = cpu
        resources.setdefault("requests", {})["cpu"] = cpu
    if memory:
        tags[MEMORY_TAG] = memory
        resources.setdefault("requests", {})["memory"] = memory
        # A memory limit equal to the request: the pod is killed, not the node, if the estimate was wrong.
        resources.setdefault("limits", {})["memory"] = memory
    if resources:
        tags[K8S_CONFIG_TAG] = {"container_config": {"resources": resources}}
    if queue:
        tags[QUEUE_TAG] = queue
    return tags
