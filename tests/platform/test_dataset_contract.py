"""The dataset contract (docs/adding-a-dataset.md) is executable: a sixth dataset written from the documented files
only, in a temporary folder outside the repository (a sample writer, a pure reader, one rule, the shared raw-files
factory and table helper, one dbt staging model shipped in the package's own `dbt/models`, one model and one
evaluation), is found through `CDP_DATASET_PACKAGES` and materialised end to end: raw → validated table → dbt →
model → evaluation → model card, with real dbt, GX and a real Dagster instance, and no edit anywhere else."""

import importlib
import shutil
import textwrap
from pathlib import Path

import polars as pl
import pytest

NAME = "raingauge"

FILES = {
    "__init__.py": '''
        """Rain gauges: daily rainfall per station → validated readings → per-station mean → MAE on later days."""

        from dagster_project.datasets import define_dataset

        DATASET = define_dataset(__name__, title="Rain gauges: daily rainfall per station", license="CC0-1.0")
    ''',
    "sample.py": '''
        from pathlib import Path


        def write_sample(dest: Path, *, scale: int = 1, seed: int = 0) -> None:
            """Three stations, 20 days each (a fixed pattern: the same bytes every time)."""
            dest.mkdir(parents=True, exist_ok=True)
            rows = ["station,day,rain_mm"]
            for s, station in enumerate(("alpha", "beta", "gamma")):
                for day in range(20 * scale):
                    rows.append(f"{station},{day},{(s + 1) * ((day * 7 + seed) % 5) / 2:.1f}")
            (dest / "readings.csv").write_text("\\n".join(rows) + "\\n")
    ''',
    "source.py": """
        import io

        import polars as pl

        from dagster_project.errors import SourceFormatError

        COLUMNS = {"station": pl.String, "day": pl.Int64, "rain_mm": pl.Float64}


        def read_readings(data: bytes, file: str) -> pl.DataFrame:
            df = pl.read_csv(io.BytesIO(data), schema_overrides=COLUMNS)
            missing = [c for c in COLUMNS if c not in df.columns]
            if missing:
                raise SourceFormatError(file, "readings have station, day, rain_mm", f"missing {missing}")
            return df.select(*COLUMNS).with_columns(
                pl.lit(file).alias("source_file"), pl.int_range(1, pl.len() + 1).alias("source_row")
            )
    """,
    "checks.py": """
        from dagster_project.validation import Rule


        def reading_rules() -> list[Rule]:
            return [Rule("ExpectColumnValuesToBeBetween", {"column": "rain_mm", "min_value": 0})]
    """,
    "assets.py": '''
        import polars as pl

        from dagster_project.ingest import Table, raw_files_asset, table_asset
        from dagster_project.raw import raw_relpath
        from dagster_project.storage import Lake
        from dagster_project.validation import validate_frame

        from . import checks, source

        DATASET = "raingauge"

        raingauge_raw_files = raw_files_asset(
            DATASET, kinds={"python", "csv"}, description="Rain gauge CSVs copied as received into raw/raingauge/."
        )


        @table_asset("raingauge_readings", dataset=DATASET, check_description="rain_mm is never negative.")
        def raingauge_readings(lake: Lake, raingauge_raw_files: pl.DataFrame) -> Table:
            """One row per station and day."""
            files = sorted(raingauge_raw_files["relpath"].to_list())
            df = pl.concat([source.read_readings(lake.read_bytes(raw_relpath(DATASET, f)), f) for f in files])
            return Table(df, validate_frame(df, suite="raingauge_readings", rules=checks.reading_rules()))
    ''',
    "models.py": '''
        import dagster as dg
        import polars as pl

        from dagster_project.evaluation import EvaluationResult, evaluation_output
        from dagster_project.fingerprint import training_fingerprint
        from dagster_project.footprint import measure_footprint
        from dagster_project.metadata import run_label
        from dagster_project.roles import Role, role_tags
        from dagster_project.storage import Lake
        from dagster_project.warehouse import Warehouse

        DATASET = "raingauge"
        SPLIT_DAY = 15


        @dg.asset(name="raingauge_mean_model", group_name=DATASET, kinds={"python"},
                  tags=role_tags(Role.MODEL, DATASET), deps=[dg.AssetKey("raingauge_stg_readings")])
        def raingauge_mean_model(context: dg.AssetExecutionContext, warehouse: Warehouse, lake: Lake) -> dict:
            """Mean rainfall per station over the days before SPLIT_DAY."""
            train = warehouse.read_table("raingauge_stg_readings").filter(pl.col("day") < SPLIT_DAY).sort("station", "day")
            with measure_footprint(context, task="training"):
                means = dict(train.group_by("station").agg(pl.col("rain_mm").mean()).sort("station").iter_rows())
            context.add_output_metadata(training_fingerprint(lake, DATASET, {"train": train}))
            return means


        @dg.asset(name="raingauge_model_evaluation", group_name=DATASET, kinds={"python"},
                  tags=role_tags(Role.EVALUATION, DATASET), deps=[dg.AssetKey("raingauge_stg_readings")])
        def raingauge_model_evaluation(
            context: dg.AssetExecutionContext, raingauge_mean_model: dict, warehouse: Warehouse, lake: Lake
        ) -> dg.Output[EvaluationResult]:
            """Mean absolute error of the per-station mean on the days from SPLIT_DAY on."""
            test = warehouse.read_table("raingauge_stg_readings").filter(pl.col("day") >= SPLIT_DAY)
            with measure_footprint(context, task="evaluation"):
                pred = test["station"].replace_strict(raingauge_mean_model, return_dtype=pl.Float64)
                mae = float((pred - test["rain_mm"]).abs().mean())
            return evaluation_output(
                EvaluationResult(
                    dataset=DATASET,
                    split="days from SPLIT_DAY on",
                    metrics={"mae": mae},
                    headline="mae",
                    higher_is_better=False,
                    run=run_label(DATASET, lake, rows={"test readings": test.height}),
                )
            )
    ''',
    "dbt/models/staging/raingauge/_raingauge__sources.yml": """
        version: 2
        sources:
          - name: raingauge
            description: Parquet written by the raingauge Python assets.
            tables:
              - name: readings
                description: One row per station and day.
                meta:
                  external_location: "read_parquet('{{ var('data_root') }}/tables/raingauge_readings/**/*.parquet', union_by_name=true)"
                  dagster:
                    asset_key: ["raingauge_readings"]
    """,
    "dbt/models/staging/raingauge/_raingauge__staging.yml": """
        version: 2
        models:
          - name: raingauge_stg_readings
            description: Daily rainfall per station.
            columns:
              - name: station
                description: Station name.
                data_tests: [not_null]
              - name: day
                description: Day number.
                data_tests: [not_null]
              - name: rain_mm
                description: Rainfall of the day in mm.
                data_tests: [not_null]
    """,
    "dbt/models/staging/raingauge/raingauge_stg_readings.sql": """
        {{ config(materialized='table') }}
        select station, day, rain_mm from {{ source('raingauge', 'readings') }}
    """,
}


def _write_package(root: Path) -> Path:
    pkg = root / NAME
    for rel, text in FILES.items():
        path = pkg / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    return pkg


# About 45 s of CPU (a full dbt parse of the project with the package's models, one dbt build, GX, the model card);
# 85-125 s of wall time on the shared 2-core machine.
@pytest.mark.slow
def test_a_sixth_dataset_written_from_the_contract_runs_end_to_end(tmp_path, monkeypatch):
    import dagster as dg

    import dagster_project.definitions  # noqa: F401  (the platform's own definitions, loaded before the setting)
    from dagster_project import settings
    from dagster_project.datasets import load_datasets
    from dagster_project.dbt import dataset_model_paths, dbt_project
    from dagster_project.definitions import build_definitions
    from dagster_project.io_managers import LakeIOManager
    from dagster_project.roles import Role, keys_with_role
    from dagster_project.runner import materialize_everything
    from dagster_project.storage import Lake
    from dagster_project.warehouse import Warehouse

    _write_package(tmp_path / "elsewhere")
    monkeypatch.syspath_prepend(str(tmp_path / "elsewhere"))
    monkeypatch.setenv("CDP_DATASET_PACKAGES", NAME)
    monkeypatch.setenv("CDP_CACHE_DIR", str(tmp_path / "cache"))
    importlib.import_module(f"{NAME}.sample").write_sample(tmp_path / "source")
    monkeypatch.setenv(f"CDP_{NAME.upper()}_SOURCE", str(tmp_path / "source"))

    datasets = load_datasets()
    (sixth,) = [d for d in datasets if d.name == NAME]
    assert {"agbd", "exionaics"} <= {d.name for d in datasets}  # found beside the platform's own
    specs = [s for a in sixth.defs.assets for s in a.specs]
    assert [k.to_user_string() for k in keys_with_role(specs, Role.RAW, NAME)] == ["raingauge_raw_files"]
    assert [k.to_user_string() for k in keys_with_role(specs, Role.TABLE, NAME)] == ["raingauge_readings"]

    lake = Lake(root=str(tmp_path / "lake"))
    warehouse = str(tmp_path / "warehouse.duckdb")
    (tmp_path / "home").mkdir()
    instance = dg.DagsterInstance.local_temp(
        tempdir=str(tmp_path / "home"), overrides={"telemetry": {"enabled": False}}
    )
    try:
        defs = build_definitions(datasets)  # dbt parses the package's own models into a target of their own
        report = materialize_everything(
            instance,
            datasets=[NAME],
            defs=defs,
            resources={
                "lake": lake,
                "io_manager": LakeIOManager(lake=lake),
                "warehouse": Warehouse(path=warehouse),
            },
        )
    finally:  # the package's manifest and model link live in dbt/target: leave nothing behind
        shutil.rmtree(dbt_project().manifest_path.parent, ignore_errors=True)
        for rel in dataset_model_paths():
            (settings.DBT_PROJECT_DIR / rel).unlink()
        instance.dispose()
    assert report.success, report.failures

    done = {s.key: s for s in report.summary}
    for key in (
        "raingauge_raw_files",
        "raingauge_readings",
        "raingauge_stg_readings",
        "raingauge_mean_model",
        "raingauge_model_evaluation",
        "raingauge_mean_model_card",
    ):
        assert key in done, f"{key} was not materialised ({sorted(done)})"
    checks = {ev.check_name: ev.passed for r in report.results for ev in r.get_asset_check_evaluations()}
    assert checks["raingauge_readings_valid"] is True
    assert checks["not_null_raingauge_stg_readings_rain_mm"] is True

    # the evaluation scored what the sample holds: recompute the MAE from the source file itself
    readings = pl.read_csv(tmp_path / "source" / "readings.csv")
    means = readings.filter(pl.col("day") < 15).group_by("station").agg(pl.col("rain_mm").mean().alias("m"))
    test = readings.filter(pl.col("day") >= 15).join(means, on="station")
    expected = float((test["m"] - test["rain_mm"]).abs().mean())
    assert done["raingauge_model_evaluation"].headline == f"mae={expected:.4g}"
    assert lake.read_parquet("tables/raingauge_readings/data.parquet").height == readings.height
