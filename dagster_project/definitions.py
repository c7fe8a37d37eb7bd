"""The Dagster code location: every dataset's assets, the dbt warehouse, and the platform's resources."""

import dagster as dg

from dagster_project.datasets import load_datasets
from dagster_project.dbt import build_dbt_assets
from dagster_project.resources import platform_resources

DATASETS = load_datasets()

defs = dg.Definitions.merge(
    *(ds.defs for ds in DATASETS),
    dg.Definitions(assets=[build_dbt_assets()], resources=platform_resources()),
)
