"""Source sensors, schedules and jobs: evaluated for real against a real instance, folders and a moto S3 bucket."""

import shutil

import dagster as dg
import polars as pl
import pytest

from dagster_project import automation
from dagster_project.datasets import Dataset
from dagster_project.roles import Role, role_tags
from dagster_project.settings import SAMPLES_DIR
from dagster_project.storage import Lake

# A minimal partitioned dataset: one file per partition (`<key>.csv`), a raw asset and a partitioned table that
# reads its partition's file from the source and fails on a file that says "broken". It exercises the platform's
# sensor factory exactly as the real partitioned datasets use it; the requested runs are executed for real.
DEMO_PARTS = dg.DynamicPartitionsDefinition(name="demo_units")


@dg.asset(name="demo_raw_files", group_name="demo", tags=role_tags(Role.RAW, "demo"))
def demo_raw_files() -> None: ...


@dg.asset(name="demo_units_table", group_name="demo", partitions_def=DEMO_PARTS, deps=["demo_raw_files"])
def demo_units_table(context: dg.AssetExecutionContext) -> None:
    import os

    source = Lake(root=os.environ["CDP_DEMO_SOURCE"])
    if "broken" in source.read_bytes(f"{context.partition_key}.csv").decode():
        raise ValueError(f"{context.partition_key}.csv is broken")


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


def _execute(instance, requests) -> list[bool]:
    """Run the requests for real, tagged as the sensor daemon tags them (run key)."""
    out = []
    for req in requests:
        result = dg.materialize(
            [demo_raw_files, demo_units_table],
            selection=req.asset_selection,
            partition_key=req.partition_key,
            instance=instance,
            tags={**req.tags, "dagster/run_key": req.run_key},
            raise_on_error=False,
        )
        out.append(result.success)
    return out


def _write(lake: Lake, rel: str, text: str) -> None:
    lake.write_bytes(rel, text.encode())


RAW = dg.AssetKey("demo_raw_files")
TABLE = dg.AssetKey("demo_units_table")


@pytest.mark.parametrize("lake_fixture", ["lake_local", "lake_s3"])
def test_partitioned_sensor_copies_once_then_requests_exactly_the_affected_partitions(
    lake_fixture, request, monkeypatch
):
    watched: Lake = request.getfixturevalue(lake_fixture)  # the watched source: a folder or an S3 prefix
    for key in ("t01", "t02"):
        _write(watched, f"{key}.csv", "a\n1\n")
    monkeypatch.setenv("CDP_DEMO_SOURCE", watched.url())
    sensor = automation.build_source_sensor(DEMO)
    with dg.instance_for_test() as instance:
        # first tick of a fresh instance: the partitions are added, and ONE run copies the raw files
        runs, adds, cursor, _ = _tick(sensor, instance, None)
        assert adds and sorted(adds[0].partition_keys) == ["t01", "t02"]
        assert len(runs) == 1 and runs[0].partition_key is None and runs[0].asset_selection == [RAW]
        assert runs[0].tags["cdp/heavy"] == "ingest" and runs[0].run_key.endswith(":1")
        assert _tick(sensor, instance, cursor)[3] is not None  # its run is not there yet: nothing else
        assert _execute(instance, runs) == [True]
        # the raw copy succeeded: one run per partition, reading only (no raw asset in them)
        runs, adds, cursor, _ = _tick(sensor, instance, cursor)
        assert sorted(r.partition_key for r in runs) == ["t01", "t02"] and not adds
        assert all(r.asset_selection == [TABLE] for r in runs)
        assert _execute(instance, runs) == [True, True]
        assert _tick(sensor, instance, cursor)[3] is not None  # all done: skipped

        _write(watched, "t03.csv", "a\n3\n")  # a new file arrives
        runs, adds, cursor, _ = _tick(sensor, instance, cursor)
        assert [list(a.partition_keys) for a in adds] == [["t03"]]
        assert [r.asset_selection for r in runs] == [[RAW]]
        _execute(instance, runs)
        runs, adds, cursor, _ = _tick(sensor, instance, cursor)
        assert [r.partition_key for r in runs] == ["t03"] and not adds
        first_key = runs[0].run_key
        _execute(instance, runs)
        runs, adds, cursor, skip = _tick(sensor, instance, cursor)
        assert not runs and not adds and skip is not None  # a second tick yields nothing

        _write(
            watched, "t01.csv", "a\n1\n2\n"
        )  # a changed file re-ingests its partition only, under a new key
        runs, _, cursor, _ = _tick(sensor, instance, cursor)
        _execute(instance, runs)
        runs, adds, cursor, _ = _tick(sensor, instance, cursor)
        assert [r.partition_key for r in runs] == ["t01"] and not adds and runs[0].run_key != first_key
        _execute(instance, runs)

        # a changed file and a new one seen by the same tick: both their partitions (the new one was dropped)
        _write(watched, "t02.csv", "a\n2\n2\n")
        _write(watched, "t04.csv", "a\n4\n")
        runs, adds, cursor, _ = _tick(sensor, instance, cursor)
        assert [list(a.partition_keys) for a in adds] == [["t04"]]
        _execute(instance, runs)
        runs, _, cursor, _ = _tick(sensor, instance, cursor)
        assert sorted(r.partition_key for r in runs) == ["t02", "t04"]


def test_failed_partition_is_retried_when_repaired_with_backoff_and_a_bound(tmp_path, monkeypatch):
    import time

    watched = Lake(root=str(tmp_path / "source"))
    _write(watched, "t01.csv", "a\n1\n")
    _write(watched, "t02.csv", "broken\n")
    monkeypatch.setenv("CDP_DEMO_SOURCE", watched.url())
    monkeypatch.setenv("CDP_SENSOR_INTERVAL_S", "1")  # backoff after attempt n: 2**(n-1) s
    monkeypatch.setenv("CDP_SENSOR_MAX_ATTEMPTS", "2")
    sensor = automation.build_source_sensor(DEMO)
    with dg.instance_for_test() as instance:
        runs, _, cursor, _ = _tick(sensor, instance, None)
        _execute(instance, runs)
        runs, _, cursor, _ = _tick(sensor, instance, cursor)
        assert _execute(instance, sorted(runs, key=lambda r: r.partition_key)) == [True, False]
        time.sleep(1.5)
        # same files, same upstream: a failure that cannot succeed is not requested again
        assert _tick(sensor, instance, cursor)[3] is not None

        # the upstream is materialised again (e.g. the nightly revalidation): attempt 2, under a new run key
        dg.materialize([demo_raw_files], instance=instance)
        runs, _, cursor, _ = _tick(sensor, instance, cursor)
        assert [r.partition_key for r in runs] == ["t02"] and runs[0].run_key.endswith(":2")
        assert _execute(instance, runs) == [False]
        dg.materialize([demo_raw_files], instance=instance)
        time.sleep(2.5)
        assert _tick(sensor, instance, cursor)[3] is not None  # bound (2 attempts) reached

        # the file is repaired: a new file version, copied once, then the partition succeeds
        _write(watched, "t02.csv", "a\n2\n")
        runs, _, cursor, _ = _tick(sensor, instance, cursor)
        assert [r.asset_selection for r in runs] == [[RAW]]
        _execute(instance, runs)
        runs, _, cursor, _ = _tick(sensor, instance, cursor)
        assert [r.partition_key for r in runs] == ["t02"] and runs[0].run_key.endswith(":1")
        assert _execute(instance, runs) == [True]
        runs, _, cursor, skip = _tick(sensor, instance, cursor)
        assert not runs and "0 pieces of work open" in skip.skip_message


def test_a_failed_raw_copy_is_retried_after_backoff(tmp_path, monkeypatch):
    import time

    watched = Lake(root=str(tmp_path / "source"))
    _write(watched, "t01.csv", "a\n1\n")
    monkeypatch.setenv("CDP_DEMO_SOURCE", watched.url())
    monkeypatch.setenv("CDP_SENSOR_INTERVAL_S", "1")
    sensor = automation.build_source_sensor(DEMO)

    @dg.asset(name="demo_raw_files", group_name="demo", tags=role_tags(Role.RAW, "demo"))
    def failing_raw() -> None:
        raise OSError("connection reset")  # a transient download error

    with dg.instance_for_test() as instance:
        runs, _, cursor, _ = _tick(sensor, instance, None)
        res = dg.materialize(
            [failing_raw], instance=instance, tags={"dagster/run_key": runs[0].run_key}, raise_on_error=False
        )
        assert not res.success
        time.sleep(1.5)
        runs, _, cursor, _ = _tick(sensor, instance, cursor)
        assert [r.asset_selection for r in runs] == [[RAW]] and runs[0].run_key.endswith(":2")
        assert _execute(instance, runs) == [True]
        runs, _, cursor, _ = _tick(sensor, instance, cursor)
        assert [r.partition_key for r in runs] == ["t01"]


def test_unpartitioned_sensor_bootstraps_then_waits_for_changes(tmp_path, monkeypatch):
    from dagster_project.datasets.exionaics import DATASET as EXIONAICS
    from dagster_project.datasets.exionaics.assets import exionaics_raw_files
    from dagster_project.resources import platform_resources

    src = tmp_path / "exionaics"
    shutil.copytree(SAMPLES_DIR / "exionaics", src)
    monkeypatch.setenv("CDP_EXIONAICS_SOURCE", str(src))
    monkeypatch.setenv("CDP_DATA_ROOT", str(tmp_path / "lake"))
    sensor = automation.build_source_sensor(EXIONAICS)

    def execute(instance, req):  # the raw copy, for real, tagged like the daemon's run
        res = dg.materialize(
            [exionaics_raw_files],
            instance=instance,
            resources=platform_resources(),
            tags={**req.tags, "dagster/run_key": req.run_key},
        )
        assert res.success

    with dg.instance_for_test() as instance:
        runs, _, cursor, _ = _tick(sensor, instance, None)
        assert len(runs) == 1 and runs[0].asset_selection == [dg.AssetKey("exionaics_raw_files")]
        execute(instance, runs[0])
        assert _tick(sensor, instance, cursor)[3] is not None
        df = pl.read_csv(src / "ExioNAICS.csv", infer_schema=False)
        pl.concat([df, df.head(1).with_columns(pl.lit("New Co").alias("Company Name"))]).write_csv(
            src / "ExioNAICS.csv"
        )
        first_key = runs[0].run_key
        runs, _, cursor, _ = _tick(sensor, instance, cursor)
        assert len(runs) == 1 and runs[0].run_key != first_key
        execute(instance, runs[0])
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


def test_each_asset_gets_the_automation_of_its_role():
    """Sensor-owned assets (raw files, AGBD's tile index, partitions) have no condition (the source sensor requests
    them, once per change); models and evaluations retrain on changed data; the rest is eager-or-retry."""
    from dagster_project.datasets.agbd import DATASET as AGBD
    from dagster_project.definitions import defs

    assert automation.upstream_keys(AGBD) == [dg.AssetKey("agbd_raw_files"), dg.AssetKey("agbd_tile_index")]
    graph = defs.resolve_asset_graph()

    def label(name: str) -> str | None:
        cond = graph.get(dg.AssetKey(name)).automation_condition
        return cond.get_label() if cond else None

    for name in (
        "agbd_raw_files",
        "agbd_tile_index",
        "agbd_patches",
        "pcbvision_raw_files",
        "pcbvision_board_pixels",
    ):
        assert label(name) is None, name
    for name in (
        "agbd_biomass_model",
        "agbd_model_evaluation",
        "geoplant_top25_global",
        "exionaics_naics_classifier",
    ):
        assert label(name) == "retrain_on_changed_data_or_retry", name
    for name in (
        "exionaics_companies",
        "exionaics_training_set",
        "platform_dbt_docs",
        "exionaics_naics_classifier_card",
    ):
        assert label(name) == "eager_or_retry", name


def test_a_fresh_instance_builds_every_asset_once_including_one_without_inputs():
    """Issue 18: on a fresh instance the automation builds AGBD's whole graph after the source sensor's work,
    each asset once. AGBD's biome reference table (a dbt model without inputs) is built on the first tick (eager()
    alone never builds an asset that is already missing when it is first evaluated, so the training set and
    everything after it waited forever); nothing that reads a partitioned asset without partitions yet is built
    on that tick. Evaluated for real; the runs' results are reported as materialisations."""
    from dagster_project.datasets.agbd import DATASET as AGBD
    from dagster_project.definitions import defs

    graph = defs.resolve_asset_graph()
    selection = dg.AssetSelection.groups("agbd")
    keys = {k for k in selection.resolve(graph) if graph.get(k).is_materializable}
    sensor_owned = set(automation.upstream_keys(AGBD)) | set(automation.partitioned_keys(AGBD))
    requested: list[dg.AssetKey] = []

    with dg.instance_for_test() as instance:

        def tick(cursor):
            result = dg.evaluate_automation_conditions(
                defs=defs, instance=instance, asset_selection=selection, cursor=cursor
            )
            keys = [r.key for r in result.results if result.get_num_requested(r.key)]
            requested.extend(keys)
            for key in keys:  # the requested run succeeded
                instance.report_runless_asset_event(dg.AssetMaterialization(key))
            return keys, result.cursor

        first, cursor = tick(None)
        assert first == [dg.AssetKey("agbd_int_biomes")]
        # the source sensor: partitions added, raw copy and tile index, then one run per partition
        instance.add_dynamic_partitions(AGBD.partitions.name, ["t1", "t2"])
        for key in sorted(sensor_owned, key=lambda k: k.to_user_string()):
            for partition in ["t1", "t2"] if graph.get(key).partitions_def else [None]:
                instance.report_runless_asset_event(dg.AssetMaterialization(key, partition=partition))
        for _ in range(8):
            new, cursor = tick(cursor)
            if not new:
                break
        assert not new, "the automation kept requesting"
        assert sorted(requested) == sorted(keys - sensor_owned)  # every asset, each once


def test_failed_asset_without_inputs_is_retried_once_per_retry_period_then_its_children_follow(tmp_path):
    """An asset without inputs (like a dbt reference table) whose first run fails: no input update can ever retry
    it, so the automation retries it once per `RETRY_CRON` period (a bound: never twice in one period, never in a
    loop), together with what reads it. Evaluated for real at chosen evaluation times; the runs are
    executed for real (the seed fails while a marker file says so)."""
    import datetime

    broken = tmp_path / "broken"
    broken.write_text("the warehouse is locked")

    @dg.asset(name="demo_seed", automation_condition=automation.EAGER)
    def demo_seed() -> None:
        if broken.exists():
            raise RuntimeError(broken.read_text())

    @dg.asset(name="demo_child", deps=[demo_seed], automation_condition=automation.EAGER)
    def demo_child() -> None: ...

    defs = dg.Definitions(assets=[demo_seed, demo_child])
    # a future hour boundary: RETRY_CRON ticks on the hour
    h = datetime.datetime.now(datetime.UTC).replace(minute=0, second=0, microsecond=0) + datetime.timedelta(
        hours=1
    )

    def at(hours: int, minutes: int) -> datetime.datetime:
        return h + datetime.timedelta(hours=hours, minutes=minutes)

    with dg.instance_for_test() as instance:
        cursor = None

        def tick(when: datetime.datetime) -> list[str]:
            nonlocal cursor
            result = dg.evaluate_automation_conditions(
                defs=defs, instance=instance, cursor=cursor, evaluation_time=when
            )
            cursor = result.cursor
            keys = sorted(r.key.to_user_string() for r in result.results if result.get_num_requested(r.key))
            if keys:  # the requested run, executed for real
                dg.materialize(
                    [demo_seed, demo_child],
                    selection=keys,
                    instance=instance,
                    raise_on_error=False,
                )
            return keys

        assert tick(at(0, 10)) == ["demo_seed"]  # missing, no inputs: built once; the run fails
        assert tick(at(0, 15)) == []
        assert tick(at(0, 55)) == []  # the same period: not retried (the bound)
        # the next period: one retry, with what reads it in the same run (eager); the cause is still there
        assert tick(at(1, 1)) == ["demo_child", "demo_seed"]
        assert tick(at(1, 10)) == []
        broken.unlink()  # the cause goes away
        assert tick(at(1, 50)) == []  # not before the next period
        assert tick(at(2, 1)) == ["demo_child", "demo_seed"]  # retried, and this time both succeed
        assert instance.get_latest_materialization_event(dg.AssetKey("demo_child")) is not None
        assert tick(at(2, 2)) == []
        assert tick(at(4, 1)) == []  # a healthy asset is not retried


def _with_retrain(assets: list) -> list:
    """`retrain_condition` on the assets named demo_model and demo_evaluation, as `apply_automation` sets it."""
    model = [dg.AssetKey("demo_model")]

    def where(spec: dg.AssetSpec) -> dg.AssetSpec:
        if spec.key.to_user_string() not in ("demo_model", "demo_evaluation"):
            return spec
        upstream = automation.trained_upstream(assets, spec.key, model)
        return spec.replace_attributes(automation_condition=automation.retrain_condition(model, upstream))

    return [a.map_asset_specs(where) for a in assets]


def test_an_evaluation_waits_while_its_model_is_about_to_retrain():
    """Issue 18: a table that both the model and its evaluation read (PCB-Vision's board stats) changed while the
    model's other input (its training set) was still being rebuilt by another run. The evaluation must not score
    the old model then: it waits, and runs once, together with the retrained model. Evaluated for real; the runs
    are executed for real, the run in flight is a real run record."""
    content = {"train": "1", "stats": "1"}

    @dg.asset(name="demo_train_src")
    def train_src() -> None: ...

    @dg.asset(name="demo_stats_src")
    def stats_src() -> None: ...

    # dbt models report a content hash as their data version (dagster_project/dbt.py)
    @dg.asset(name="demo_stats", deps=[stats_src], kinds={"dbt"}, automation_condition=automation.EAGER)
    def stats() -> dg.MaterializeResult:
        return dg.MaterializeResult(data_version=dg.DataVersion(content["stats"]))

    @dg.asset(name="demo_train", deps=[train_src], kinds={"dbt"}, automation_condition=automation.EAGER)
    def train() -> dg.MaterializeResult:
        return dg.MaterializeResult(data_version=dg.DataVersion(content["train"]))

    @dg.asset(name="demo_model", deps=[stats, train])
    def model() -> None: ...

    @dg.asset(name="demo_evaluation", deps=[stats, model])
    def evaluation() -> None: ...

    assets = _with_retrain([train_src, stats_src, stats, train, model, evaluation])
    defs = dg.Definitions(assets=assets, jobs=[dg.define_asset_job("demo_train_job", selection=[train])])

    with dg.instance_for_test() as instance:
        cursor = None

        def tick() -> list[str]:
            nonlocal cursor
            result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)
            cursor = result.cursor
            keys = sorted(r.key.to_user_string() for r in result.results if result.get_num_requested(r.key))
            if keys:  # the requested run, executed for real
                assert dg.materialize(assets, selection=keys, instance=instance).success
            return keys

        assert dg.materialize(assets, instance=instance).success
        assert tick() == []
        content["stats"] = content["train"] = "2"  # new data upstream of both
        dg.materialize(assets, selection=["demo_stats_src"], instance=instance)
        assert tick() == ["demo_stats"]  # its content changed
        # meanwhile another run rebuilds the training set
        in_flight = instance.create_run_for_job(
            job_def=defs.resolve_job_def("demo_train_job"),
            asset_selection=frozenset({dg.AssetKey("demo_train")}),
            status=dg.DagsterRunStatus.STARTED,
        )
        assert tick() == []  # the model waits for its input; the evaluation waits for the model
        assert tick() == []
        instance.delete_run(in_flight.run_id)  # that run's work, done for real:
        dg.materialize(assets, selection=["demo_train"], instance=instance)
        assert tick() == ["demo_evaluation", "demo_model"]  # one run: retrain, then score the new model
        assert tick() == []
        evaluations = instance.fetch_materializations(dg.AssetKey("demo_evaluation"), limit=10).records
        assert len(evaluations) == 2  # the first build and the one after the retrain


def test_a_model_waits_until_everything_upstream_settled_and_its_evaluation_runs_once():
    """Issue 18, seen in the bring-up test under load: a repaired board's partition run had written its pixels but
    not yet its RGB images. The dbt chain over the pixels rebuilt, the model retrained and the evaluation scored it;
    then the RGB images landed and both ran again. A model (and so its evaluation) waits until nothing upstream of
    it is in progress or requested, however far up: it trains once, on the whole new board. Evaluated for real; the
    runs are executed for real, the partition run in flight is a real run record."""
    boards = dg.DynamicPartitionsDefinition(name="demo_boards")
    content = {"stats": "1", "train": "1"}

    @dg.asset(name="demo_pixels", partitions_def=boards)
    def pixels() -> None: ...

    @dg.asset(name="demo_rgb", partitions_def=boards)
    def rgb() -> None: ...

    @dg.asset(name="demo_stg_pixels", deps=[pixels], kinds={"dbt"}, automation_condition=automation.EAGER)
    def stg_pixels() -> None: ...

    @dg.asset(name="demo_stg_rgb", deps=[rgb], kinds={"dbt"}, automation_condition=automation.EAGER)
    def stg_rgb() -> None: ...

    @dg.asset(
        name="demo_stats", deps=[stg_pixels, stg_rgb], kinds={"dbt"}, automation_condition=automation.EAGER
    )
    def stats() -> dg.MaterializeResult:
        return dg.MaterializeResult(data_version=dg.DataVersion(content["stats"]))

    @dg.asset(name="demo_train", deps=[stg_pixels], kinds={"dbt"}, automation_condition=automation.EAGER)
    def train() -> dg.MaterializeResult:
        return dg.MaterializeResult(data_version=dg.DataVersion(content["train"]))

    @dg.asset(name="demo_model", deps=[stats, train])
    def model() -> None: ...

    @dg.asset(name="demo_evaluation", deps=[pixels, stats, model])
    def evaluation() -> None: ...

    assets = _with_retrain([pixels, rgb, stg_pixels, stg_rgb, stats, train, model, evaluation])
    board_job = dg.define_asset_job("demo_board_job", selection=[pixels, rgb], partitions_def=boards)
    defs = dg.Definitions(assets=assets, jobs=[board_job])
    partitioned = ["demo_pixels", "demo_rgb"]

    with dg.instance_for_test() as instance:
        cursor = None

        def tick() -> list[str]:
            nonlocal cursor
            result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)
            cursor = result.cursor
            keys = sorted(r.key.to_user_string() for r in result.results if result.get_num_requested(r.key))
            if keys:  # the requested run, executed for real
                assert dg.materialize(assets, selection=keys, instance=instance).success
            return keys

        def board(name: str, selection: list[str]) -> None:
            assert dg.materialize(assets, selection=selection, partition_key=name, instance=instance).success

        instance.add_dynamic_partitions("demo_boards", ["a"])
        board("a", partitioned)
        rest = [k.to_user_string() for a in assets for k in a.keys if k.to_user_string() not in partitioned]
        assert dg.materialize(assets, selection=rest, instance=instance).success
        assert tick() == []

        # board b arrives: its run has written the pixels, its RGB images are still being written
        instance.add_dynamic_partitions("demo_boards", ["b"])
        in_flight = instance.create_run_for_job(
            job_def=defs.resolve_job_def("demo_board_job"),
            asset_selection=frozenset({dg.AssetKey("demo_rgb")}),
            tags={"dagster/partition": "b"},
            status=dg.DagsterRunStatus.STARTED,
        )
        content["stats"] = content["train"] = "2"
        board("b", ["demo_pixels"])
        assert tick() == ["demo_stats", "demo_stg_pixels", "demo_train"]  # what reads the pixels only follows
        assert tick() == []  # the model waits: its stats will change again once the RGB images are in
        assert tick() == []
        instance.delete_run(in_flight.run_id)  # that run's RGB images, written for real:
        content["stats"] = "3"
        board("b", ["demo_rgb"])
        assert tick() == ["demo_stats", "demo_stg_rgb"]
        # one retrain, on the whole board, and its evaluation in the same run
        assert tick() == ["demo_evaluation", "demo_model"]
        assert tick() == []
        evaluations = instance.fetch_materializations(dg.AssetKey("demo_evaluation"), limit=10).records
        assert len(evaluations) == 2  # the first build and the one after the retrain
