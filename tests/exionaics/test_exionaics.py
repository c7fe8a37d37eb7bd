"""ExioNAICS end to end: sample → raw → GX checks → dbt → classifier → evaluation, on local disk and on S3, plus
reader variants, corrupted input and the Hugging Face HTTPS path."""

import io
import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest

from dagster_project.datasets.exionaics import source
from dagster_project.datasets.exionaics.sample import write_sample
from dagster_project.errors import SourceFormatError
from dagster_project.settings import SAMPLES_DIR

SAMPLE = SAMPLES_DIR / "exionaics"


def test_sample_is_deterministic_and_matches_shipped_files(tmp_path):
    write_sample(tmp_path)
    for name in ("ExioNAICS.csv", "ExioML_factors.csv"):
        assert (tmp_path / name).read_bytes() == (SAMPLE / name).read_bytes()
    df = source.read_companies((SAMPLE / "ExioNAICS.csv").read_bytes(), "ExioNAICS.csv")
    assert df.height == 2000
    assert df["naics_code"].n_unique() >= 40 and df["naics_code"].str.slice(0, 2).n_unique() >= 10


def test_reader_accepts_hf_parquet_variant_and_pads_codes():
    src = pl.DataFrame(
        {
            "Company Name": ["A Co", "B Co"],
            "Company Description": ["makes cement and clinker in kilns", "a bank for loans and checking"],
            "2022 NAICS Code": [327310.0, 522110.0],
            "2022 NAICS Title": ["Cement Manufacturing", "Commercial Banking"],
        }
    )
    buf = io.BytesIO()
    src.write_parquet(buf)
    df = source.read_companies(buf.getvalue(), "data/train-00000-of-00001.parquet")
    assert df["naics_code"].to_list() == ["327310", "522110"]
    assert {"company_name", "company_description", "naics_title", "source_file", "source_row"} <= set(
        df.columns
    )
    short = pl.DataFrame({"Company Name": ["x"], "Company Description": ["d" * 30], "NAICS Code": ["54151"]})
    out = source.read_companies(short.write_csv().encode(), "f.csv")
    assert out["naics_code"][0] == "054151"  # zero-padded, and then rejected by the NAICS-6 rule


def test_unknown_schema_lists_columns_found_and_expected():
    bad = b"name,text,code\nA,hello world,111110\n"
    with pytest.raises(SourceFormatError) as err:
        source.read_companies(bad, "weird.csv")
    msg = str(err.value)
    assert "weird.csv" in msg and "known schema" in msg
    assert "['name', 'text', 'code']" in msg and "Company Description" in msg


def _assert_pipeline_ok(m):
    assert m.success, m.report.failures
    evals = {e.check_name: e for e in m.evaluations()}
    assert evals["exionaics_companies_valid"].passed and evals["exionaics_sector_factors_valid"].passed
    dbt_checks = [
        e
        for e in m.evaluations()
        if e.check_name.startswith(("not_null", "unique", "accepted", "relationships"))
    ]
    assert dbt_checks and all(e.passed for e in dbt_checks)
    (ev,) = m.materializations("exionaics_model_evaluation")
    md = ev.metadata
    top1, top1_sector = md["top1_naics6"].value, md["top1_naics2"].value
    assert 0.5 < top1 <= 1.0 and top1_sector >= top1  # learns something; the coarse level is easier
    assert md["top10_naics6"].value >= md["top5_naics6"].value >= top1
    assert 0 < md["mape_emissions"].value < 5
    assert (
        "paper, full data" in md["paper_vs_ours"].value
        and "this run, sample data" in md["paper_vs_ours"].value
    )
    assert md["headline_metric"].value == top1
    with duckdb.connect(m.warehouse_path, read_only=True) as con:
        splits = dict(con.sql("select split, count(*) from exionaics_training_set group by 1").fetchall())
    assert set(splits) == {"train", "validation", "test"} and splits["train"] > splits["test"] > 100
    # dbt marts carry their row counts, read once dbt released the warehouse
    (mart,) = m.materializations("exionaics_training_set")
    assert mart.metadata["dagster/row_count"].value == sum(splits.values())
    return top1


def test_end_to_end_local_and_rerun_is_idempotent(materialize_dataset, lake_local):
    m = materialize_dataset("exionaics", lake_local, source=str(SAMPLE))
    top1 = _assert_pipeline_ok(m)
    manifest = lake_local.read_parquet("raw/exionaics/_manifest.parquet")
    assert lake_local.read_bytes("raw/exionaics/ExioNAICS.csv") == (SAMPLE / "ExioNAICS.csv").read_bytes()
    # a second run copies nothing again and reproduces the same numbers
    m2 = materialize_dataset("exionaics", lake_local, source=str(SAMPLE))
    assert _assert_pipeline_ok(m2) == top1
    assert lake_local.read_parquet("raw/exionaics/_manifest.parquet").equals(manifest)


def test_end_to_end_on_s3(materialize_dataset, lake_s3):
    m = materialize_dataset("exionaics", lake_s3, source=str(SAMPLE))
    _assert_pipeline_ok(m)
    assert lake_s3.exists("tables/exionaics_companies/data.parquet")
    assert lake_s3.exists("objects/exionaics_naics_classifier/object.pkl")
    assert (
        lake_s3.read_bytes("raw/exionaics/ExioML_factors.csv") == (SAMPLE / "ExioML_factors.csv").read_bytes()
    )


def _corrupt(tmp_path: Path) -> Path:
    bad = tmp_path / "bad_source"
    shutil.copytree(SAMPLE, bad)
    df = pl.read_csv(bad / "ExioNAICS.csv", infer_schema=False)
    df = df.with_columns(
        pl.when(pl.int_range(pl.len()) == 6)
        .then(pl.lit("999999"))
        .otherwise(pl.col("NAICS Code"))
        .alias("NAICS Code"),
        pl.when(pl.int_range(pl.len()) == 9)
        .then(pl.lit(""))
        .otherwise(pl.col("Company Description"))
        .alias("Company Description"),
    ).drop("Value Added [M.EUR]")
    (bad / "ExioNAICS.csv").write_bytes(df.write_csv().encode())
    return bad


def test_corrupted_source_fails_the_check_naming_row_and_rule(materialize_dataset, lake_local, tmp_path):
    bad = _corrupt(tmp_path)
    received = (bad / "ExioNAICS.csv").read_bytes()
    m = materialize_dataset("exionaics", lake_local, source=str(bad))
    assert not m.success
    check = next(e for e in m.evaluations() if e.check_name == "exionaics_companies_valid")
    assert not check.passed
    failures = check.metadata["failures"].value
    assert (
        "ExpectColumnValuesToMatchRegex(naics_code" in failures
        and "source_row=7" in failures
        and "999999" in failures
    )
    assert (
        "ExpectColumnValueLengthsToBeBetween(company_description" in failures and "source_row=10" in failures
    )
    assert "ExpectColumnToExist(value_added_meur)" in failures
    # the blocking check stopped everything downstream: no model was trained on bad data
    assert not m.materializations("exionaics_naics_classifier")
    assert not m.materializations("exionaics_training_set")
    # the raw copy is exactly what was received
    assert lake_local.read_bytes("raw/exionaics/ExioNAICS.csv") == received


def test_remote_huggingface_source_over_https(materialize_dataset, lake_local, http_server, tmp_path):
    # Serve the sample under the same path layout as https://huggingface.co/datasets/<repo>/resolve/main/<file>
    root = tmp_path / "hf"
    dest = root / "datasets" / source.HF_REPO / "resolve" / "main"
    dest.mkdir(parents=True)
    for f in source.DEFAULT_FILES:
        shutil.copy(SAMPLE / f, dest / f)
    server = http_server(root)
    url = f"{server.url}/datasets/{source.HF_REPO}/resolve/main"
    m = materialize_dataset("exionaics", lake_local, source=url)
    _assert_pipeline_ok(m)
    manifest = lake_local.read_parquet("raw/exionaics/_manifest.parquet")
    assert manifest["source_url"].to_list() == [f"{url}/{f}" for f in sorted(source.DEFAULT_FILES)]
