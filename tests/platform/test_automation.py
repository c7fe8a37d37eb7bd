"""Source sensors, schedules and jobs: evaluated for real against a real instance, folders and a moto S3 bucket."""

import shutil

import dagster as dg
import polars as pl
import pytest

from dagster_project import automation
from dagster_project.datasets import Dataset
from dagster_project.settings import SAMPLES_DIR
from dagster_project.storage import Lake

# A minimal partitioned dataset: one file per partition (`<key>.csv`), a raw asset and a partitioned table. It
# exercises the platform's sensor factory exactly as the real partitioned datasets use it.
DEMO_PARTS = dg.DynamicPartitionsDefinition(name="demo_units")


@dg.asset(name="demo_raw_files", group_name="demo")
def demo_raw_files() -> None: ...


@dg.asset(name="demo_units_table", group_name="demo", partitions_def=DEMO_PARTS, deps=["demo_raw_files"])
def demo_units_table() -> None: ...


def _discover(location: str) -> list[str]:
    from dagster_project.raw import list_source_files

    return sorted(r.removesuffix(".csv") for r in list_source_files(location) if r.endswith(".csv"))


DEMO = Dataset(
    name="demo",
    defs=dg.Definitions(assets=[demo_raw_files, demo_units_table]),
    partitions=DEMO_PARTS,
    discover_partitions=_discover,
    partitions_for_files=lambda _loc, files: [f.removesuffix(".csv") for f in files],
)


def _tick(sensor, instance, cursor):
    ctx = dg.build_sensor_context(instance=instance, cursor=cursor)
    result = sensor(ctx)
    if isinstance(result, dg.SkipReason):
        return [], [], ctx.cursor, result
    for req in result.dynamic_partitions_requests or []:  # what the daemon does with the requests
        instance.add_dynamic_partitions(req.partitions_def_name, list(req.partition_keys))
    return (
        list(result.run_requests or []),
        list(result.dynamic_partitions_requests or []),
        result.cursor,
        None,
    )


def _write(lake: Lake, rel: str, text: str) -> None:
    lake.write_bytes(rel, text.encode())


@pytest.mark.parametrize("lake_fixture", ["lake_local", "lake_s3"])
def test_partitioned_sensor_requests_exactly_the_new_partition(lake_fixture, request, monkeypatch):
    watched: Lake = request.getfixturevalue(lake_fixture)  # the watched source: a folder or an S3 prefix
    for key in ("t01", "t02"):
        _write(watched, f"{key}.csv", "a\n1\n")
    monkeypatch.setenv("CDP_DEMO_SOURCE", watched.url())
    sensor = automation.build_source_sensor(DEMO)
    with dg.instance_for_test() as instance:
        runs, adds, cursor, _ = _tick(sensor, instance, None)
        assert sorted(r.partition_key for r in runs) == ["t01", "t02"]  # first ingest of a fresh instance
        assert adds and sorted(adds[0].partition_keys) == ["t01", "t02"]
        assert _tick(sensor, instance, cursor)[3] is not None  # nothing new: skipped

        _write(watched, "t03.csv", "a\n3\n")  # a new file arrives
        runs, adds, cursor, _ = _tick(sensor, instance, cursor)
        assert [r.partition_key for r in runs] == ["t03"]
        assert set(runs[0].asset_selection) == {
            dg.AssetKey("demo_raw_files"),
            dg.AssetKey("demo_units_table"),
        }
        assert [list(a.partition_keys) for a in adds] == [["t03"]]
        first_key = runs[0].run_key
        runs, adds, cursor, skip = _tick(sensor, instance, cursor)
        assert not runs and not adds and skip is not None  # a second tick yields nothing

        _write(
            watched, "t01.csv", "a\n1\n2\n"
        )  # a changed file re-ingests its partition only, under a new key
        runs, adds, cursor, _ = _tick(sensor, instance, cursor)
        assert [r.partition_key for r in runs] == ["t01"] and not adds and runs[0].run_key != first_key


def test_unpartitioned_sensor_bootstraps_then_waits_for_changes(tmp_path, monkeypatch):
    from dagster_project.datasets.exionaics import DATASET as EXIONAICS

    src = tmp_path / "exionaics"
    shutil.copytree(SAMPLES_DIR / "exionaics", src)
    monkeypatch.setenv("CDP_EXIONAICS_SOURCE", str(src))
    sensor = automation.build_source_sensor(EXIONAICS)
    with dg.instance_for_test() as instance:
        runs, _, cursor, _ = _tick(sensor, instance, None)
        assert len(runs) == 1 and runs[0].asset_selection == [dg.AssetKey("exionaics_raw_files")]
        assert _tick(sensor, instance, cursor)[3] is not None
        df = pl.read_csv(src / "ExioNAICS.csv", infer_schema=False)
        pl.concat([df, df.head(1).with_columns(pl.lit("New Co").alias("Company Name"))]).write_csv(
            src / "ExioNAICS.csv"
        )
        runs, _, cursor, _ = _tick(sensor, instance, cursor)
        assert len(runs) == 1 and runs[0].run_key != "exionaics:"
        assert _tick(sensor, instance, cursor)[3] is not None


def test_sensor_does_not_reingest_what_an_instance_already_has(tmp_path, monkeypatch):
    from dagster_project.datasets.exionaics import DATASET as EXIONAICS

    monkeypatch.setenv("CDP_EXIONAICS_SOURCE", str(SAMPLES_DIR / "exionaics"))
    sensor = automation.build_source_sensor(EXIONAICS)
    with dg.instance_for_test() as instance:
        instance.report_runless_asset_event(dg.AssetMaterialization("exionaics_raw_files"))
        runs, _, cursor, skip = _tick(sensor, instance, None)
        assert not runs and "initialised" in skip.skip_message


def test_jobs_schedules_and_sensors_cover_every_dataset():
    from dagster_project.definitions import DATASETS, defs

    repo = defs.get_repository_def()
    sensors = {s.name for s in repo.sensor_defs}
    schedules = {s.name: s for s in repo.schedule_defs}
    assert "platform_automation_sensor" in sensors
    assert {"nightly_revalidation_schedule", "weekly_retrain_schedule"} <= set(schedules)
    for ds in DATASETS:
        assert f"{ds.name}_source_sensor" in sensors
        job = f"{ds.name}_ingest" if ds.partitions else f"{ds.name}_pipeline"
        assert repo.has_job(job)
        if ds.partitions:
            assert f"nightly_{ds.name}_revalidation" in schedules
    weekly = repo.get_job("weekly_retrain")
    keys = {k.to_user_string() for k in weekly.asset_layer.executable_asset_keys}
    assert "exionaics_naics_classifier" in keys and "exionaics_model_evaluation" in keys
    # every model the model cards know (e.g. GeoPlant's top-25 baselines), and what follows them: cards, marts
    from dagster_project.model_cards import find_model_pairs

    for pair in find_model_pairs(list(defs.assets)):
        assert {pair.model.to_user_string(), pair.evaluation.to_user_string()} <= keys
    assert {"exionaics_naics_classifier_card", "geoplant_top25_global_card", "platform_footprint"} <= keys
    nightly = repo.get_job("nightly_revalidation")
    nightly_keys = {k.to_user_string() for k in nightly.asset_layer.executable_asset_keys}
    assert {"exionaics_raw_files", "exionaics_companies", "exionaics_training_set"} <= nightly_keys
    assert "exionaics_naics_classifier" not in nightly_keys


def test_nightly_partition_schedule_requests_every_known_partition():
    import datetime

    schedule = automation._all_partitions_schedule(
        DEMO, dg.define_asset_job("demo_ingest", partitions_def=DEMO_PARTS)
    )
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("demo_units", ["a", "b"])
        ctx = dg.build_schedule_context(
            instance=instance, scheduled_execution_time=datetime.datetime(2026, 1, 2)
        )
        reqs = schedule(ctx)
        assert sorted(r.partition_key for r in reqs) == ["a", "b"] and reqs[0].run_key.endswith("2026-01-02")
