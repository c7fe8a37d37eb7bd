"""The Dagster code location: every dataset's assets, the dbt warehouse and its docs, the platform's resources,
and what keeps it fresh (source sensors, declarative automation, nightly and weekly schedules)."""

import dagster as dg

from dagster_project import automation, executor
from dagster_project.dataset_cards import build_dataset_card_assets
from dagster_project.datasets import Dataset, load_datasets
from dagster_project.dbt import build_dbt_assets, build_dbt_docs_asset
from dagster_project.footprint import build_footprint_log_asset
from dagster_project.model_cards import build_platform_assets, find_model_pairs
from dagster_project.resources import platform_resources

DATASETS = load_datasets()


def build_definitions(datasets: list[Dataset] | None = None) -> dg.Definitions:
    # Built inside a function: Dagster refuses a module that holds more than one Definitions object. `datasets`
    # defaults to those found at import (tests pass a fresh `load_datasets()` after configuring more packages).
    datasets = DATASETS if datasets is None else datasets
    dbt_models = build_dbt_assets()
    partitioned = {k for ds in datasets for k in automation.partitioned_keys(ds)}
    raw = {automation.raw_asset_key(ds) for ds in datasets}
    dataset_defs = dg.Definitions.merge(*(ds.defs for ds in datasets))
    dataset_assets = list(dataset_defs.assets or [])
    pairs = find_model_pairs(dataset_assets)
    # a model card per trained model and the card index (found from the asset graph)
    platform_assets = build_platform_assets(dataset_assets, datasets)
    # the footprint log, downstream of every measured asset (each model and evaluation) and of the cards
    platform_assets.append(
        build_footprint_log_asset(k for p in pairs for k in (p.model, p.evaluation, p.card_key))
    )
    platform_assets += build_dataset_card_assets(datasets)  # a Hugging Face dataset card per dataset
    core = dg.Definitions(
        assets=[
            *automation.apply_automation([*dataset_assets, *platform_assets], partitioned, raw),
            dbt_models,
            build_dbt_docs_asset(dbt_models),
        ],
        asset_checks=dataset_defs.asset_checks,
        sensors=[
            *(dataset_defs.sensors or []),
            *(automation.build_source_sensor(ds) for ds in datasets),
            automation.automation_sensor(),
        ],
        schedules=dataset_defs.schedules,
        jobs=dataset_defs.jobs,
        resources=platform_resources(),
    )
    models = {pair.model for pair in pairs}
    jobs, schedules = automation.build_jobs_and_schedules(datasets, core.resolve_asset_graph(), models)
    # CDP_PROFILE=cluster: every job runs its steps on Celery workers; else in-process (dagster_project/executor.py).
    return dg.Definitions.merge(
        core, dg.Definitions(jobs=jobs, schedules=schedules, executor=executor.job_executor())
    )


defs = build_definitions()
