"""The cluster profile's configuration, without starting anything: the setting that selects Celery, the Celery
settings shared by orchestrator and workers, and the resource-hint tags."""

import dagster as dg

from dagster_project import cluster, executor
from dagster_project.resource_hints import resource_hints


def test_profile_setting_selects_the_celery_executor(monkeypatch):
    monkeypatch.delenv("CDP_PROFILE", raising=False)
    assert executor.job_executor() is dg.in_process_executor  # embedded: each run's steps in its own process
    monkeypatch.setenv("CDP_PROFILE", "cluster")
    monkeypatch.setenv("CDP_CELERY_BROKER", "redis://10.0.0.5:6380/0")
    monkeypatch.setenv("CDP_CELERY_VISIBILITY_TIMEOUT_S", "900")
    ex = executor.job_executor()
    assert isinstance(ex, dg.ExecutorDefinition) and ex.name == "celery"
    app = executor.celery_app_args()  # what the workers build their app from
    assert app["broker"] == "redis://10.0.0.5:6380/0" and app["backend"] == "redis://127.0.0.1:6379/1"
    conf = vars(app["config_source"])
    assert (
        conf["task_acks_late"]
        and conf["task_reject_on_worker_lost"]
        and conf["worker_prefetch_multiplier"] == 1
    )
    assert conf["broker_transport_options"]["visibility_timeout"] == 900
    assert app["retries"].value == "enabled"  # RetryPolicy stays honoured


def test_resource_hints_become_kubernetes_requests_and_a_queue():
    tags = resource_hints(cpu="2", memory="8Gi", queue="highmem")
    assert tags["dagster-k8s/config"] == {
        "container_config": {
            "resources": {"requests": {"cpu": "2", "memory": "8Gi"}, "limits": {"memory": "8Gi"}}
        }
    }
    assert tags["dagster-celery/queue"] == "highmem" and tags["cdp/memory"] == "8Gi"
    assert resource_hints() == {}
    # still importable from dagster_project.cluster while the datasets move their imports
    assert cluster.resource_hints is resource_hints and cluster.job_executor is executor.job_executor


def test_heavy_assets_carry_resource_hints():
    from dagster_project.definitions import defs

    graph = defs.resolve_asset_graph()
    op_tags = graph.get(dg.AssetKey("exionaics_naics_classifier")).assets_def.op.tags
    assert "dagster-k8s/config" in op_tags and op_tags["cdp/cpu"] == "1"
