"""One end-to-end materialisation shared by the footprint and model-card tests (each costs tens of seconds on two
cores): the landed datasets named in `PLATFORM_RUN_DATASETS` plus the platform group (cards index, footprint log,
dbt footprint marts), into a temporary lake, warehouse and Dagster instance."""

import os

import pytest

# ExioNAICS is the reference dataset; CDP_PLATFORM_RUN_DATASETS=all runs every landed dataset (as `make run` does).
PLATFORM_RUN_DATASETS = os.environ.get("CDP_PLATFORM_RUN_DATASETS", "exionaics")
FOOTPRINT_ENV = (
    "CDP_FOOTPRINT_METHOD",
    "CDP_GRID_COUNTRY",
    "CDP_GRID_CARBON_INTENSITY_G_PER_KWH",
    "CDP_FOOTPRINT_WATTS_PER_THREAD",
    "CDP_FOOTPRINT_WATTS_PER_GB",
    "CDP_WUE_ONSITE_L_PER_KWH",
    "CDP_WATER_OFFSITE_L_PER_KWH",
)


@pytest.fixture
def footprint_defaults(monkeypatch):
    """The documented footprint defaults, whatever the caller's environment sets."""
    for name in FOOTPRINT_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def platform_run(tmp_path_factory):
    import dagster as dg

    from dagster_project.datasets import load_datasets
    from dagster_project.io_managers import LakeIOManager
    from dagster_project.runner import materialize_everything
    from dagster_project.storage import Lake
    from dagster_project.warehouse import Warehouse

    names = (
        [d.name for d in load_datasets()]
        if PLATFORM_RUN_DATASETS == "all"
        else PLATFORM_RUN_DATASETS.split(",")
    )
    root = tmp_path_factory.mktemp("platform_run")
    (root / "home").mkdir()
    lake = Lake(root=str(root / "lake"))
    warehouse = str(root / "warehouse.duckdb")
    with pytest.MonkeyPatch.context() as mp:
        for name in FOOTPRINT_ENV:
            mp.delenv(name, raising=False)
        mp.setenv("CDP_CACHE_DIR", str(root / "download-cache"))
        instance = dg.DagsterInstance.local_temp(
            tempdir=str(root / "home"), overrides={"telemetry": {"enabled": False}}
        )
        report = materialize_everything(
            instance,
            datasets=[*names, "platform"],
            resources={
                "lake": lake,
                "io_manager": LakeIOManager(lake=lake),
                "warehouse": Warehouse(path=warehouse),
            },
        )
    yield {"report": report, "instance": instance, "lake": lake, "warehouse": warehouse, "datasets": names}
    instance.dispose()
