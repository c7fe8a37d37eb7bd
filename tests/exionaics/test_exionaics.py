"""ExioNAICS end to end: sample → raw → GX checks → dbt → classifier → evaluation, on local disk and on S3, from the
single published file, from the parquet variant and with the optional ExioML files; plus reader variants,
corrupted input and the Hugging Face HTTPS path."""

import io
import pickle
import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest

from dagster_project.datasets.exionaics import models, sample, source
from dagster_project.errors import SourceFormatError
from dagster_project.fingerprint import object_sha256
from dagster_project.settings import SAMPLES_DIR

SAMPLE = SAMPLES_DIR / "exionaics"
PARQUET_VARIANT = SAMPLE / sample.PARQUET_DIR
EXIOML_FIXTURE = Path(__file__).parent / "fixtures" / "exioml"


def test_sample_and_fixture_are_deterministic_and_match_shipped_files(tmp_path):
    sample.write_sample(tmp_path / "s")
    assert (tmp_path / "s" / "ExioNAICS.csv").read_bytes() == (SAMPLE / "ExioNAICS.csv").read_bytes()
    shipped = pl.read_parquet(PARQUET_VARIANT / sample.PARQUET_FILE)
    assert pl.read_parquet(tmp_path / "s" / sample.PARQUET_DIR / sample.PARQUET_FILE).equals(shipped)
    sample.write_exioml_fixture(tmp_path / "f")
    for name in (sample.FACTORS_FILE, sample.MAPPING_FILE):
        assert (tmp_path / "f" / name).read_bytes() == (EXIOML_FIXTURE / name).read_bytes()
    # the default sample is the published single file: no factor file beside it
    assert sorted(p.name for p in SAMPLE.iterdir() if p.is_file() and p.suffix != ".md") == ["ExioNAICS.csv"]
    df = source.read_companies((SAMPLE / "ExioNAICS.csv").read_bytes(), "ExioNAICS.csv")
    assert df.height == 2000
    assert df["naics_code"].n_unique() >= 40 and df["naics_code"].str.slice(0, 2).n_unique() >= 10
    assert shipped.height == 800 and shipped["2022 NAICS Code"].dtype == pl.Int64


def test_parquet_variant_without_prefix_columns_reads_and_codes_are_not_padded():
    src = pl.DataFrame(
        {
            "Company Name": ["A Co", "B Co", "C Co"],
            "Company Description": ["makes cement and clinker in kilns", "a bank", "short code"],
            "2022 NAICS Code": [327310.0, 522110.0, 54151.0],
        }
    )
    buf = io.BytesIO()
    src.write_parquet(buf)
    df = source.read_companies(buf.getvalue(), "data/train-00000-of-00001.parquet")
    # 541511.0 → '541511'; a 5-digit code stays 5 digits (rejected by the NAICS-6 rule, never padded to 054151)
    assert df["naics_code"].to_list() == ["327310", "522110", "54151"]
    assert set(source.COMPANY_SCHEMA) <= set(df.columns)
    assert df["naics_title"].null_count() == 3 and df["value_added_meur"].dtype == pl.Float64
    found = source.company_columns_found(buf.getvalue(), "x.parquet")
    assert found == {
        "company_name": "Company Name",
        "company_description": "Company Description",
        "naics_code": "2022 NAICS Code",
    }
    csv = b"Company Name,Company Description,NAICS Code\nX,some long enough description,5415\n"
    assert source.read_companies(csv, "f.csv")["naics_code"].to_list() == ["5415"]


def test_missing_description_column_names_file_and_expected_columns():
    bad = b"Company Name,NAICS Code\nA,111110\n"
    with pytest.raises(SourceFormatError) as err:
        source.read_companies(bad, "weird.csv")
    msg = str(err.value)
    assert "weird.csv" in msg and "known schema" in msg and "company_description" in msg
    assert "['Company Name', 'NAICS Code']" in msg and "Company Description" in msg


def test_naics_2_column_is_checked_against_the_code_combined_sectors_accepted():
    from dagster_project.datasets.exionaics import checks
    from dagster_project.validation import validate_frame

    csv = (
        b"Company Name,Company Description,NAICS Code,NAICS_2 Code\n"
        b"A,bakery with ovens and sourdough loaves,311811,31-33\n"
        b"B,statistical consulting for agencies,541611,54\n"
        b"C,a shoe store on the main street,448210,48\n"
    )
    df = source.read_companies(csv, "x.csv")
    report = validate_frame(checks.with_code_prefixes(df), suite="t", rules=checks.company_rules(df))
    (failed,) = report.failures
    text = failed.describe()
    assert "ExpectColumnPairValuesToBeEqual(" in text and "naics_2_code" in text
    assert failed.unexpected_count == 1 and "source_row=3" in text and "x.csv" in text


def test_source_file_selection_prefers_top_level_data_files():
    listed = ["ExioNAICS.csv", "README.md", "parquet/ExioNAICS.parquet"]
    assert source.select_source_files(listed) == ["ExioNAICS.csv"]
    assert source.select_source_files(["README.md", "data/train-0.parquet"]) == ["data/train-0.parquet"]
    roles = {
        f: source.file_role(f) for f in ["ExioML_factor_accounting_IxI.csv", "exiobase_naics_mapping.csv"]
    }
    assert roles == {"ExioML_factor_accounting_IxI.csv": "factors", "exiobase_naics_mapping.csv": "mapping"}
    assert source.factor_table("ExioML_factor_accounting_IxI.csv") == "IxI"


def test_factor_file_with_several_regions_and_no_us_rows_is_a_clear_error():
    data = (
        b"region,sector,Value Added [M.EUR],Employment [1000 p.],GHG emissions [kg CO2 eq.],"
        b"Energy Carrier Net Total [TJ],Year\nCN,Cattle farming,10,1,100,1,2020\nDE,Cattle farming,20,1,50,1,2020\n"
    )
    factors = source.read_factors(data, "ExioML_factor_accounting_PxP.csv")
    assert factors["region"].to_list() == ["CN", "DE"] and factors["year"].to_list() == [2020, 2020]
    with pytest.raises(SourceFormatError) as err:
        source.require_us_rows(factors)
    msg = str(err.value)
    assert "ExioML_factor_accounting_PxP.csv" in msg and "region = 'US'" in msg and "['CN', 'DE']" in msg


def test_companies_without_intensity_are_listed_not_dropped():
    pred = pl.DataFrame(
        {
            "company_name": ["a", "b", "c", "d"],
            "pred_naics_6_code": ["111110", "111110", "221112", "111110"],
            "report_year": [2020, 2021, 2020, 2020],
            "value_added_meur": [10.0, 10.0, 5.0, 2.0],
            "ghg_emissions_kg_co2e": [100.0, 80.0, 50.0, None],
        }
    )
    intensity = pl.DataFrame(
        {
            "naics_6_code": ["111110", "221112"],
            "report_year": [2020, 2021],
            "carbon_intensity_kg_per_meur": [12.0, 3.0],
        }
    )
    est, missing = models.estimate_emissions(pred, intensity)
    # b: code present but not for 2021 (no year pooling); c: 2020 absent; d: no GHG figure, not scorable
    assert [m["company_name"] for m in missing] == ["b", "c"]
    assert est["company_name"].to_list() == ["a"] and est["estimated_kg"].to_list() == [120.0]
    m = models.emission_metrics(est, missing, "")
    assert m["companies_without_intensity"] == 2 and m["mape_emissions"] == pytest.approx(0.2)
    md = models.emission_protocols_md({**m, "emission_rows_scored": 1}, with_exioml=False)
    assert "this platform" in md and "a different protocol" in md and "20 named companies" in md


def _assert_pipeline_ok(m, *, companies: int, figures: bool = True):
    assert m.success, m.report.failures
    evals = {e.check_name: e for e in m.evaluations()}
    for name in (
        "exionaics_companies_valid",
        "exionaics_sector_factors_valid",
        "exionaics_sector_mapping_valid",
    ):
        assert evals[name].passed, name
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
    if figures:
        # a misclassified company gets another sector's intensity, so the error is positive and finite
        assert 0 < md["mape_emissions"].value < 100 and md["emission_rows_scored"].value > 50
    else:  # a file without figures: nothing to score, said so, nothing invented
        assert md["emission_rows_scored"].value == 0 and "mape_emissions" not in md
        assert "n/a (nothing scored)" in md["emission_protocols"].value
    assert md["companies_without_intensity"].value == len(md["companies_without_intensity_list"].value)
    assert "paper, full data" in md["paper_vs_ours"].value and "MAPE" not in md["paper_vs_ours"].value
    protocols = md["emission_protocols"].value
    assert "this platform" in protocols and "a different protocol" in protocols and "0.4588" in protocols
    assert md["headline_metric"].value == top1
    with duckdb.connect(m.warehouse_path, read_only=True) as con:
        splits = dict(con.sql("select split, count(*) from exionaics_training_set group by 1").fetchall())
        n_rows, n_names = con.sql(
            "select count(*), count(distinct company_name) from exionaics_training_set"
        ).fetchall()[0]
        intensity_keys = con.sql(
            "select count(*), count(distinct (naics_6_code, report_year)) from exionaics_sector_intensity"
        ).fetchall()[0]
    assert n_rows == n_names == companies
    assert intensity_keys[0] == intensity_keys[1]  # one intensity per code and year
    assert (intensity_keys[0] > 0) == figures
    assert set(splits) == {"train", "validation", "test"} and splits["train"] > splits["test"] > 50
    (mart,) = m.materializations("exionaics_training_set")
    assert mart.metadata["dagster/row_count"].value == sum(splits.values())
    return md


def _model_sha(lake) -> str:
    return object_sha256(pickle.loads(lake.read_bytes("objects/exionaics_naics_classifier/object.pkl")))


def _rerun(m, names: list[str]):
    """Materialise only `names` again, in the same instance, lake and warehouse as `m` (the tables and the marts
    they read stay as the first run left them)."""
    import dagster as dg

    from dagster_project.definitions import defs
    from dagster_project.io_managers import LakeIOManager
    from dagster_project.warehouse import Warehouse

    result = dg.materialize(
        list(defs.assets or []),
        selection=[dg.AssetKey(n) for n in names],
        instance=m.instance,
        resources={
            **dict(defs.resources or {}),
            "lake": m.lake,
            "io_manager": LakeIOManager(lake=m.lake),
            "warehouse": Warehouse(path=m.warehouse_path),
        },
        raise_on_error=False,
    )
    assert result.success, [e.step_key for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    return {
        n: result.asset_materializations_for_node(n)[-1].metadata for n in names if n != "exionaics_raw_files"
    }


@pytest.mark.slow  # a full pipeline run with a model fit: 1-3 min on the shared 2-core machine
def test_end_to_end_single_file_on_s3_and_rerun_is_deterministic(materialize_dataset, lake_s3):
    """On an S3 lake (the local lake runs end to end with the parquet variant, the ExioML files and from HF)."""
    m = materialize_dataset("exionaics", lake_s3, source=str(SAMPLE))
    md = _assert_pipeline_ok(m, companies=2000)
    manifest = lake_s3.read_parquet("raw/exionaics/_manifest.parquet")
    assert manifest["relpath"].to_list() == ["ExioNAICS.csv"]  # the single published file, nothing else
    assert lake_s3.read_bytes("raw/exionaics/ExioNAICS.csv") == (SAMPLE / "ExioNAICS.csv").read_bytes()
    assert lake_s3.exists("tables/exionaics_companies/data.parquet")
    assert lake_s3.exists("objects/exionaics_naics_classifier/object.pkl")
    assert lake_s3.read_parquet("tables/exionaics_sector_factors/data.parquet").height == 0
    (fit,) = m.materializations("exionaics_naics_classifier")
    sha = _model_sha(lake_s3)
    # A second raw copy copies nothing again; a refit and re-evaluation on the same mart give a byte-identical
    # model, the same fingerprint and the same metrics. (Only those steps run again: the tables, GX suites and
    # dbt build are what the first run covers; the mart's order is pinned by its ORDER BY and the fingerprint.)
    again = _rerun(m, ["exionaics_raw_files", "exionaics_naics_classifier", "exionaics_model_evaluation"])
    fit2, md2 = again["exionaics_naics_classifier"], again["exionaics_model_evaluation"]
    assert _model_sha(lake_s3) == sha
    assert fit2["fingerprint/id"].value == fit.metadata["fingerprint/id"].value
    assert fit.metadata["fingerprint/train/rows"].value == fit.metadata["train_rows"].value
    metric_keys = [k for k in md if k.startswith(("top", "mape", "median", "emission_rows"))]
    assert metric_keys and all(md2[k].value == md[k].value for k in metric_keys)
    assert lake_s3.read_parquet("raw/exionaics/_manifest.parquet").equals(manifest)


@pytest.mark.slow  # a full pipeline run with a model fit: 2-5 min on the shared 2-core machine
def test_end_to_end_parquet_variant(materialize_dataset, lake_local):
    m = materialize_dataset("exionaics", lake_local, source=str(PARQUET_VARIANT))
    _assert_pipeline_ok(m, companies=800)
    (comp,) = m.materializations("exionaics_companies")
    assert comp.metadata["formats"].value == ["parquet"]
    assert {"naics_2_code", "naics_3_code"} <= set(comp.metadata["columns_absent"].value)
    assert comp.metadata["columns_found"].value["naics_code"] == "2022 NAICS Code"
    with duckdb.connect(m.warehouse_path, read_only=True) as con:
        titled = con.sql(
            "select count(*) from exionaics_int_naics_hierarchy where naics_6_title is null"
        ).fetchall()[0]
    assert titled == (0,)


def _expected_exioml(report_year: int, naics_6: str) -> tuple[int, float] | None:
    """Independent reading of the fixture: US rows, the company's year or the nearest (ties → earlier), the
    longest mapped prefix, summed GHG / summed value added."""
    import pandas as pd

    factors = pd.read_csv(EXIOML_FIXTURE / sample.FACTORS_FILE)
    mapping = pd.read_csv(EXIOML_FIXTURE / sample.MAPPING_FILE, dtype=str)
    us = factors[factors["region"] == "US"]
    year = min(sorted(us["Year"].unique()), key=lambda y: (abs(y - report_year), y))
    hits = mapping[[naics_6.startswith(p) for p in mapping["naics_code"]]]
    if hits.empty:
        return None
    best = hits[hits["naics_code"].str.len() == hits["naics_code"].str.len().max()]
    rows = us[(us["Year"] == year) & us["sector"].isin(best["exiobase_sector"])]
    return int(year), float(rows["GHG emissions [kg CO2 eq.]"].sum() / rows["Value Added [M.EUR]"].sum())


@pytest.mark.slow  # a full pipeline run with a model fit: 2-5 min on the shared 2-core machine
def test_end_to_end_with_optional_exioml_files_is_region_and_year_correct(
    materialize_dataset, lake_local, tmp_path
):
    src = tmp_path / "with_exioml"
    src.mkdir()
    shutil.copy(SAMPLE / "ExioNAICS.csv", src / "ExioNAICS.csv")
    for f in (sample.FACTORS_FILE, sample.MAPPING_FILE):
        shutil.copy(EXIOML_FIXTURE / f, src / f)
    m = materialize_dataset("exionaics", lake_local, source=str(src))
    md = _assert_pipeline_ok(m, companies=2000)
    (fac,) = m.materializations("exionaics_sector_factors")
    assert fac.metadata["regions"].value == 4 and fac.metadata["years"].value == [2017, 2019, 2020]
    with duckdb.connect(m.warehouse_path, read_only=True) as con:
        grid = con.sql(
            "select naics_6_code, report_year, factor_year, year_rule, carbon_intensity_kg_per_meur "
            "from exionaics_exioml_intensity"
        ).fetchall()
        per_company = con.sql(
            "select naics_6_code, report_year, exioml_factor_year, exioml_intensity_kg_per_meur "
            "from exionaics_training_set"
        ).fetchall()
    assert grid and len({(c, y) for c, y, *_ in grid}) == len(grid)  # one row per code and year
    for code, year, factor_year, rule, value in grid:
        exp_year, exp_value = _expected_exioml(year, code)
        assert factor_year == exp_year and rule == ("exact" if year == exp_year else "nearest")
        assert value == pytest.approx(exp_value, rel=1e-9)
    # one row per company (2,000), each with the US intensity of its own code at its (nearest) year
    assert len(per_company) == 2000
    for code, year, factor_year, value in per_company:
        expected = _expected_exioml(year, code)
        if expected is None:
            assert value is None and code.startswith(sample.UNMAPPED_NAICS_3)
        else:
            assert (factor_year, value) == (expected[0], pytest.approx(expected[1], rel=1e-9))
    assert {y for _, y, fy, _ in per_company if fy == 2020} == {2020, 2021, 2022}
    assert 0 < md["mape_emissions_exioml"].value and md["emission_rows_scored_exioml"].value > 0
    missing = md["companies_without_intensity_exioml_list"].value
    assert md["companies_without_intensity_exioml"].value == len(missing) > 0
    assert all(r["pred_naics_6_code"].startswith(sample.UNMAPPED_NAICS_3) for r in missing)
    assert "ExioML US factors" in md["emission_protocols"].value


def test_factor_file_without_us_rows_stops_the_run(materialize_dataset, lake_local, tmp_path):
    src = tmp_path / "no_us"
    src.mkdir()
    shutil.copy(SAMPLE / "ExioNAICS.csv", src / "ExioNAICS.csv")
    shutil.copy(EXIOML_FIXTURE / sample.MAPPING_FILE, src / sample.MAPPING_FILE)
    factors = pl.read_csv(EXIOML_FIXTURE / sample.FACTORS_FILE).filter(pl.col("region") != "US")
    factors.write_csv(src / sample.FACTORS_FILE)
    m = materialize_dataset("exionaics", lake_local, source=str(src))
    assert not m.success
    assert "region = 'US'" in m.step_failures()["exionaics_sector_factors"]
    assert not m.materializations("exionaics_naics_classifier")


def _corrupt(tmp_path: Path) -> Path:
    bad = tmp_path / "bad_source"
    bad.mkdir()
    df = pl.read_csv(SAMPLE / "ExioNAICS.csv", infer_schema=False)
    row = pl.int_range(pl.len())
    df = df.with_columns(
        pl.when(row == 6)
        .then(pl.lit("999999"))  # not a NAICS sector
        .when(row == 10)
        .then(pl.lit("54151"))  # 5 digits: rejected, not padded
        .when(row == 16)
        .then(pl.lit("ABC123"))  # not numeric
        .otherwise(pl.col("NAICS Code"))
        .alias("NAICS Code"),
        pl.when(row == 9)
        .then(pl.lit(""))
        .otherwise(pl.col("Company Description"))
        .alias("Company Description"),
        pl.when(row == 13).then(pl.lit("99")).otherwise(pl.col("NAICS_2 Code")).alias("NAICS_2 Code"),
    )
    header = pl.DataFrame({c: [c] for c in df.columns})  # a repeated header row, as record 2001
    (bad / "ExioNAICS.csv").write_bytes(pl.concat([df, header]).write_csv().encode())
    return bad


def test_corrupted_source_fails_the_check_naming_row_and_rule(materialize_dataset, lake_local, tmp_path):
    bad = _corrupt(tmp_path)
    received = (bad / "ExioNAICS.csv").read_bytes()
    m = materialize_dataset("exionaics", lake_local, source=str(bad))
    assert not m.success
    check = next(e for e in m.evaluations() if e.check_name == "exionaics_companies_valid")
    assert not check.passed
    failures = check.metadata["failures"].value
    regex_rule = failures.split("ExpectColumnValuesToMatchRegex(naics_code")[1].split("\n")[0]
    for row, value in ((7, "999999"), (11, "54151"), (17, "ABC123"), (2001, "NAICS Code")):
        assert f"source_row={row}" in regex_rule and value in regex_rule
    assert "ExioNAICS.csv" in regex_rule
    assert (
        "ExpectColumnValueLengthsToBeBetween(company_description" in failures and "source_row=10" in failures
    )
    pair_rule = failures.split("ExpectColumnPairValuesToBeEqual(")[1].split("\n")[0]
    assert "naics_2_code" in pair_rule and "source_row=14" in pair_rule
    # the blocking check stopped everything downstream: no model was trained on bad data
    assert not m.materializations("exionaics_naics_classifier")
    assert not m.materializations("exionaics_training_set")
    # the raw copy is exactly what was received
    assert lake_local.read_bytes("raw/exionaics/ExioNAICS.csv") == received


@pytest.mark.slow  # a full pipeline run with a model fit: 2-5 min on the shared 2-core machine
def test_remote_huggingface_source_over_https_with_only_the_required_columns(
    materialize_dataset, lake_local, http_server, tmp_path
):
    # Serve a file under the same path layout as https://huggingface.co/datasets/<repo>/resolve/main/<file>, with
    # only the HF loaders' four columns (no NAICS-2/3, no figures): it runs end to end, the emission part says it
    # had nothing to score.
    root = tmp_path / "hf"
    dest = root / "datasets" / source.HF_REPO / "resolve" / "main"
    dest.mkdir(parents=True)
    full = pl.read_csv(SAMPLE / "ExioNAICS.csv", infer_schema=False)
    minimal = full.select(
        "Company Name", "Company Description", pl.col("NAICS Code").alias("2022 NAICS Code")
    )
    (dest / "ExioNAICS.csv").write_bytes(minimal.write_csv().encode())
    server = http_server(root)
    url = f"{server.url}/datasets/{source.HF_REPO}/resolve/main"
    m = materialize_dataset("exionaics", lake_local, source=url)
    _assert_pipeline_ok(m, companies=2000, figures=False)
    (comp,) = m.materializations("exionaics_companies")
    absent = {"naics_title", "year", "value_added_meur", "ghg_emissions_kg_co2e"}
    assert absent <= set(comp.metadata["columns_absent"].value)
    manifest = lake_local.read_parquet("raw/exionaics/_manifest.parquet")
    assert manifest["source_url"].to_list() == [f"{url}/{f}" for f in sorted(source.DEFAULT_FILES)]
