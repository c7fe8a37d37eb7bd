"""Issue 16: models and evaluations retrain when the CONTENT of their training data changed, not because the
nightly revalidation re-materialised the warehouse with the same content. Evaluated for real: ExioNAICS is built
end to end (real dbt, real instance), then the platform's automation conditions are evaluated across a nightly
rebuild on unchanged data and across a rebuild after a changed source file."""

import shutil

import dagster as dg
import polars as pl
import pytest

from dagster_project.settings import SAMPLES_DIR

MODEL = dg.AssetKey("exionaics_naics_classifier")
EVALUATION = dg.AssetKey("exionaics_model_evaluation")
MART = dg.AssetKey("exionaics_training_set")


@pytest.mark.slow
def test_models_retrain_on_changed_data_not_on_a_nightly_rebuild(
    tmp_path, lake_local, materialize_dataset, monkeypatch
):
    from dagster_project.definitions import defs
    from dagster_project.io_managers import LakeIOManager
    from dagster_project.warehouse import Warehouse

    src = tmp_path / "exionaics-source"
    shutil.copytree(SAMPLES_DIR / "exionaics", src)
    built = materialize_dataset("exionaics", lake_local, source=src)
    assert built.success, built.report.failures
    instance = built.instance
    selection = dg.AssetSelection.groups("exionaics")

    repo = defs.get_repository_def()
    nightly = [
        k
        for k in repo.get_job("nightly_revalidation").asset_layer.executable_asset_keys
        if defs.resolve_asset_graph().get(k).group_name == "exionaics"
    ]
    assert MART in nightly and MODEL not in nightly
    resources = {
        **dict(defs.resources or {}),
        "lake": lake_local,
        "io_manager": LakeIOManager(lake=lake_local),
        "warehouse": Warehouse(path=built.warehouse_path),
    }

    def rebuild() -> None:  # what the nightly revalidation job materialises for this dataset
        res = dg.materialize(
            list(defs.assets), selection=nightly, instance=instance, resources=resources, raise_on_error=False
        )
        assert res.success

    def mart_version() -> str:
        event = instance.get_latest_materialization_event(MART)
        return event.asset_materialization.tags["dagster/data_version"]

    first = dg.evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=selection)
    assert first.get_num_requested(MODEL) == 0  # everything is there

    # 1. nightly rebuild, unchanged data: the mart is re-materialised with the same content version
    version, count = mart_version(), len(instance.fetch_materializations(MART, limit=100).records)
    rebuild()
    assert len(instance.fetch_materializations(MART, limit=100).records) == count + 1
    assert mart_version() == version
    nightly_tick = dg.evaluate_automation_conditions(
        defs=defs, instance=instance, asset_selection=selection, cursor=first.cursor
    )
    assert nightly_tick.get_num_requested(MODEL) == 0
    assert nightly_tick.get_num_requested(EVALUATION) == 0

    # 2. a changed source file: a new company; the rebuilt mart has new content, the model and its evaluation
    # are requested
    df = pl.read_csv(src / "ExioNAICS.csv", infer_schema=False)
    extra = df.head(3).with_columns(
        pl.format("New Co {}", pl.int_range(pl.len()).cast(pl.String)).alias("Company Name")
    )
    pl.concat([df, extra]).write_csv(src / "ExioNAICS.csv")
    rebuild()
    assert mart_version() != version
    changed_tick = dg.evaluate_automation_conditions(
        defs=defs, instance=instance, asset_selection=selection, cursor=nightly_tick.cursor
    )
    assert changed_tick.get_num_requested(MODEL) == 1
    assert changed_tick.get_num_requested(EVALUATION) == 1
