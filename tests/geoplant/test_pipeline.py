"""GeoPlant end to end: sample → raw → checks → dbt → baselines + kNN → evaluation, on local disk and on S3, with
bad inputs failing the right check or step, and the remote download path over a local HTTP server."""

import shutil
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pytest

from dagster_project.datasets.geoplant import source

SAMPLE = source.REPO_SAMPLE


@pytest.fixture
def bundle(tmp_path) -> Path:
    dest = tmp_path / "glc24"
    shutil.copytree(SAMPLE, dest)
    return dest


def _check(m, name: str):
    evals = {e.check_name: e for e in m.evaluations()}
    return evals[name]


def _failures_text(m, name: str) -> str:
    return str(_check(m, name).metadata["failures"].value)


def _assert_pipeline_ok(m) -> dict:
    assert m.success, (m.report.failures, m.step_failures())
    for name in (
        "geoplant_pa_occurrences_valid",
        "geoplant_pa_surveys_valid",
        "geoplant_po_occurrences_valid",
        "geoplant_env_features_valid",
        "geoplant_patches_complete",
    ):
        assert _check(m, name).passed, name
    dbt_checks = [
        e
        for e in m.evaluations()
        if "geoplant" in e.asset_key.to_user_string() and "valid" not in e.check_name
    ]
    assert len(dbt_checks) > 30 and all(e.passed for e in dbt_checks)
    (ev,) = m.materializations("geoplant_model_evaluation")
    md = {k: getattr(v, "value", v) for k, v in ev.metadata.items()}
    # The environment model beats every naive baseline, and the paper's numbers are shown beside ours.
    assert md["knn_f1_at_25"] > md["top25_district_region_f1_at_25"] + 0.03
    assert md["knn_f1_at_25"] > md["top25_country_f1_at_25"] > md["top25_global_f1_at_25"] > 0.05
    assert md["knn_recall_at_25"] > md["top25_global_recall_at_25"]
    assert md["headline_metric"] == md["knn_f1_at_25"] and md["headline_metric_name"] == "knn_f1_at_25"
    assert "paper, full data" in md["paper_vs_ours"] and "this run, sample data" in md["paper_vs_ours"]
    assert (
        "0.205" in md["paper_vs_ours"] and "0.287" in md["paper_vs_ours"] and "0.362" in md["paper_vs_ours"]
    )
    assert "data:image/png;base64" in md["holdout_f1_map"]
    sub = pl.read_csv(m.lake.read_bytes("reports/geoplant/submission.csv"))
    test_ids = pl.read_csv(SAMPLE / source.PA_TEST_FILE)["surveyId"].sort().to_list()
    assert sub.columns == ["surveyId", "predictions"] and sub["surveyId"].to_list() == test_ids
    assert all(len(p.split(" ")) == 25 for p in sub["predictions"])
    with duckdb.connect(m.warehouse_path, read_only=True) as con:
        subsets = dict(con.sql("select subset, count(*) from geoplant_training_set group by 1").fetchall())
        blocks = con.execute(
            "select count(*) from (select block_id from geoplant_surveys where subset != 'test' "
            "group by 1 having count(distinct subset) > 1)"
        ).fetchone()[0]
        n_po = con.execute("select count(*) from geoplant_stg_po_occurrences").fetchone()[0]
    assert set(subsets) == {"train", "holdout", "test"} and subsets["train"] > 3 * subsets["holdout"] > 30
    assert blocks == 0  # a 10 km block is never split between train and hold-out
    assert n_po == 5000
    return md


def test_end_to_end_local_and_rerun_is_idempotent(materialize_dataset, lake_local):
    m = materialize_dataset("geoplant", lake_local, source=str(SAMPLE))
    md = _assert_pipeline_ok(m)
    manifest = lake_local.read_parquet("raw/geoplant/_manifest.parquet")
    assert manifest.height == sum(1 for p in SAMPLE.rglob("*") if p.is_file())
    # Raw copies are byte-identical to the source.
    for rel in (source.PA_TRAIN_FILE, source.PO_FILES[0], source.patch_relpath("train", "rgb", _first_id())):
        assert lake_local.read_bytes(f"raw/geoplant/{rel}") == (SAMPLE / rel).read_bytes()
    years = sorted(Path(p).name for p in lake_local.glob("tables/geoplant_po_occurrences/*"))
    assert years == [f"year={y}" for y in range(2017, 2022)]
    patches = np.load(lake_local.path("arrays/geoplant_patches/train/shard-00000.npy"))
    assert patches.shape == (300, 4, 128, 128) and patches.dtype == np.uint8
    before = {p: Path(p).stat().st_mtime_ns for p in lake_local.glob("raw/geoplant/**/*.csv")}

    again = materialize_dataset("geoplant", lake_local, source=str(SAMPLE))
    md2 = _assert_pipeline_ok(again)
    assert md2["knn_f1_at_25"] == md["knn_f1_at_25"]
    assert {p: Path(p).stat().st_mtime_ns for p in lake_local.glob("raw/geoplant/**/*.csv")} == before
    assert not lake_local.exists("raw/geoplant/_history")


def _first_id() -> int:
    return int(pl.read_csv(SAMPLE / source.PA_TRAIN_FILE)["surveyId"][0])
