"""GeoPlant readers against the committed sample and against broken copies of it."""

import io
import os
import shutil
from pathlib import Path

import fsspec
import numpy as np
import polars as pl
import pytest
from PIL import Image

from dagster_project.datasets.geoplant import checks, sample, source
from dagster_project.errors import SourceFormatError

SAMPLE = source.REPO_SAMPLE
FS = fsspec.filesystem("file")


@pytest.fixture
def bundle(tmp_path) -> Path:
    """A writable copy of the committed sample."""
    dest = tmp_path / "glc24"
    shutil.copytree(SAMPLE, dest)
    return dest


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "README.md"
    }


def test_committed_sample_is_exactly_what_write_sample_writes(tmp_path):
    sample.write_sample(tmp_path / "s")
    assert _files(tmp_path / "s") == _files(SAMPLE)


def test_sample_is_small_and_in_the_kaggle_layout():
    total = sum(p.stat().st_size for p in SAMPLE.rglob("*") if p.is_file())
    assert total < 2_000_000
    for rel in source.remote_relpaths(landsat_bands=sample.LANDSAT_SAMPLE_BANDS):
        assert (SAMPLE / rel).is_file(), rel
    # Presence-only file with Kaggle's digit-zero spelling; patches follow <id[-2:]>/<id[-4:-2]>/<id>.jpeg.
    assert (SAMPLE / "GLC24_P0_metadata_train.csv").is_file()
    ids = pl.read_csv(SAMPLE / source.PA_TRAIN_FILE)["surveyId"].unique().to_list()
    sid = str(ids[0])
    assert (
        SAMPLE / "PA_Train_SatellitePatches_RGB/pa_train_patches_rgb" / sid[-2:] / sid[-4:-2] / f"{sid}.jpeg"
    ).is_file()
    assert (SAMPLE / "PA-train-landsat_time_series/GLC24-PA-train-landsat_time_series-red.csv").is_file()


def test_patch_path_rule_matches_the_organisers_loader():
    assert source.construct_patch_path("root", 1322301) == "root/01/23/1322301.jpeg"
    assert source.construct_patch_path("r", 212) == "r/12/2/212.jpeg"


def test_po_file_accepts_both_spellings():
    assert source.find_po_file(["a/GLC24_PO_metadata_train.csv"]) == "a/GLC24_PO_metadata_train.csv"
    assert source.find_po_file(["GLC24_P0_metadata_train.csv", "x.csv"]) == "GLC24_P0_metadata_train.csv"
    with pytest.raises(SourceFormatError, match="presence-only file present"):
        source.find_po_file(["GLC24_PA_metadata_train.csv"])


def test_pa_metadata_is_typed_and_the_disctrict_typo_is_mapped():
    long = source.read_pa_metadata(FS, str(SAMPLE / source.PA_TRAIN_FILE), split="train", file="pa.csv")
    raw = pl.read_csv(SAMPLE / source.PA_TRAIN_FILE)
    assert long.height == raw.height
    assert long.schema["surveyId"] == pl.Int64 and long.schema["lat"] == pl.Float64
    assert long["district"].to_list() == raw["disctrict"].to_list()
    assert long["source_row"][0] == 2 and long["source_file"][0] == "pa.csv"
    assert long["taxonRank"].null_count() == long.height  # not a PA column on Kaggle: present, empty


def test_kaggle_pa_file_without_district_columns_reads(tmp_path):
    raw = pl.read_csv(SAMPLE / source.PA_TRAIN_FILE).drop("county", "disctrict")
    raw.write_csv(tmp_path / "pa.csv")
    long = source.read_pa_metadata(FS, str(tmp_path / "pa.csv"), split="train")
    assert long["district"].null_count() == long.height


def test_grouping_keeps_every_species_of_a_survey():
    long = source.read_pa_metadata(FS, str(SAMPLE / source.PA_TRAIN_FILE), split="train")
    grouped = source.group_surveys(long)
    raw = pl.read_csv(SAMPLE / source.PA_TRAIN_FILE)
    expected = raw.group_by("surveyId").agg(pl.col("speciesId").sort()).sort("surveyId")
    assert grouped["surveyId"].to_list() == expected["surveyId"].to_list()
    assert grouped["speciesIds"].to_list() == expected["speciesId"].to_list()
    assert grouped["n_species"].sum() == raw.height
    # The malpolon bug (drop_duplicates(surveyId) before grouping) would leave exactly one label per survey.
    assert grouped["n_species"].max() > 1
    assert checks.unique_surveys(grouped).passed


def test_patch_is_rgb_and_nir_stacked_to_4x128x128():
    sid = int(pl.read_csv(SAMPLE / source.PA_TRAIN_FILE)["surveyId"][0])
    rgb_root = str(SAMPLE / source.patch_root("train", "rgb"))
    nir_root = str(SAMPLE / source.patch_root("train", "nir"))
    tensor = source.read_patch(FS, rgb_root, nir_root, sid)
    assert tensor.shape == (4, 128, 128) and tensor.dtype == np.uint8
    rgb = np.asarray(Image.open(source.construct_patch_path(rgb_root, sid)).convert("RGB"))
    nir = np.asarray(Image.open(source.construct_patch_path(nir_root, sid)).convert("L"))
    assert np.array_equal(tensor[:3], rgb.transpose(2, 0, 1)) and np.array_equal(tensor[3], nir)


def test_landsat_csv_semicolons_and_eos_gaps():
    path = SAMPLE / source.landsat_relpath("train", "red")
    text = path.read_text()
    long = source.read_landsat_csv(FS, str(path), band="red")
    n_surveys = text.count("\n") - 1
    assert long.height == n_surveys * 84
    assert long["value"].null_count() == text.count(";eos")
    assert long["year"].min() == 2000 and long["year"].max() == 2020 and set(long["quarter"]) == {1, 2, 3, 4}
    feats = source.landsat_features(long)
    assert feats.columns == ["surveyId", "landsat_red_mean"] and feats.height == n_surveys


def test_env_gaps_stay_missing_for_the_model_to_impute_and_infinities_fail():
    soil = source.read_env_csv(FS, str(SAMPLE / source.env_relpath("train", "soilgrids")))
    assert soil.null_count().sum_horizontal()[0] > 0  # the sample has empty soilgrids cells, kept as nulls
    assert checks.env_finite(soil).passed
    bad = soil.with_columns(
        pl.when(pl.int_range(pl.len()) == 3)
        .then(float("inf"))
        .otherwise(pl.col("Soilgrid-bdod"))
        .alias("Soilgrid-bdod")
    )
    res = checks.env_finite(bad)
    assert not res.passed and res.unexpected_count == 1 and res.examples[0]["columns"] == "Soilgrid-bdod"


def test_po_scan_is_typed_with_continuous_line_numbers():
    path = str(SAMPLE / source.PO_FILES[0])
    whole = source.scan_po(path, file="po.csv").collect()
    assert whole["source_row"].to_list() == list(range(2, whole.height + 2))
    assert set(whole["source_file"]) == {"po.csv"}
    assert whole.drop("source_file", "source_row").equals(pl.read_csv(path, schema_overrides=source.PO_TYPES))


def test_po_ingest_writes_year_partitions_and_checks_in_one_pass(tmp_path):
    from dagster_project.datasets.geoplant.assets import PO_TABLE, STAGING, ingest_po
    from dagster_project.storage import Lake

    lines = (SAMPLE / source.PO_FILES[0]).read_text().splitlines()
    cols = lines[0].split(",")
    bad = lines[100].split(",")
    bad[cols.index("lat")] = "80.5"  # line 101: outside the extent
    lines[100] = ",".join(bad)
    csv = tmp_path / "po.csv"
    csv.write_text("\n".join(lines) + "\n")
    lake = Lake(root=str(tmp_path / "lake"))
    rows, results = ingest_po(lake, str(csv), "GLC24_P0_metadata_train.csv")
    assert sum(rows.values()) == len(lines) - 1 and sorted(rows) == list(range(2017, 2022))
    extent = results[0]
    assert not extent.passed and extent.unexpected_count == 1
    assert extent.examples == [
        {
            "source_file": "GLC24_P0_metadata_train.csv",
            "source_row": 101,
            "lat": 80.5,
            "lon": float(bad[cols.index("lon")]),
        }
    ]
    assert all(r.passed for r in results[1:])
    written = pl.read_parquet(lake.path(f"{PO_TABLE}/*/*.parquet"))
    assert written.height == len(lines) - 1 and written["source_row"].sort().to_list() == list(
        range(2, len(lines) + 1)
    )
    assert (pl.read_parquet(lake.path(f"{PO_TABLE}/year=2019/data.parquet"))["year"] == 2019).all()
    assert not lake.exists(STAGING)
    # A file with only some years replaces the table whole: no stale partition is left.
    keep = [lines[0]] + [ln for ln in lines[1:] if ln.split(",")[cols.index("year")] in ("2018", "2020")]
    csv.write_text("\n".join(keep) + "\n")
    rows, _ = ingest_po(lake, str(csv), "po.csv")
    assert sorted(rows) == [2018, 2020]
    assert sorted(Path(p).name for p in lake.glob(f"{PO_TABLE}/*")) == ["year=2018", "year=2020"]


def test_po_ingest_reads_every_row_and_line_across_many_small_csv_chunks(tmp_path, monkeypatch):
    from dagster_project.datasets.geoplant.assets import PO_TABLE, ingest_po
    from dagster_project.storage import Lake

    monkeypatch.delenv(source.CSV_CHUNK_ENV, raising=False)
    with source.po_read_ahead():
        assert os.environ[source.CSV_CHUNK_ENV] == str(source.PO_CSV_CHUNK_BYTES)
    assert source.CSV_CHUNK_ENV not in os.environ  # restored: other queries of the process read as before
    path = SAMPLE / source.PO_FILES[0]
    lake = Lake(root=str(tmp_path / "lake"))
    # 4 KB chunks (about 50 lines each) put a chunk boundary inside a line about every 50 rows; the ingest's
    # own bound leaves a value already set (by an operator, or here) as it is.
    with source.po_read_ahead(4096):
        rows, results = ingest_po(lake, str(path), "po.csv")
        assert os.environ[source.CSV_CHUNK_ENV] == "4096"
    assert source.CSV_CHUNK_ENV not in os.environ and all(r.passed for r in results)
    written = pl.read_parquet(lake.path(f"{PO_TABLE}/*/*.parquet")).sort("source_row")
    expected = pl.read_csv(path, schema_overrides=source.PO_TYPES)
    assert sum(rows.values()) == expected.height and path.stat().st_size > 40 * 4096
    assert written["source_row"].to_list() == list(range(2, expected.height + 2))
    assert written.select(list(source.PO_TYPES)).equals(expected.select(list(source.PO_TYPES)))


# --- bad input ------------------------------------------------------------------------------------


def test_wrong_delimiter_is_named(tmp_path):
    raw = pl.read_csv(SAMPLE / source.PA_TRAIN_FILE)
    raw.write_csv(tmp_path / source.PA_TRAIN_FILE, separator=";")
    with pytest.raises(SourceFormatError) as err:
        source.read_pa_metadata(
            FS, str(tmp_path / source.PA_TRAIN_FILE), split="train", file=source.PA_TRAIN_FILE
        )
    assert err.value.rule == "comma-separated" and err.value.row == 1
    assert source.PA_TRAIN_FILE in str(err.value) and "semicolon" in str(err.value)


def test_landsat_with_commas_instead_of_semicolons_is_named(tmp_path):
    path = tmp_path / "landsat.csv"
    path.write_text((SAMPLE / source.landsat_relpath("train", "red")).read_text().replace(";", ","))
    with pytest.raises(SourceFormatError, match="semicolon-separated"):
        source.read_landsat_csv(FS, str(path), band="red")


def test_missing_column_is_named(tmp_path):
    pl.read_csv(SAMPLE / source.PA_TRAIN_FILE).drop("lat").write_csv(tmp_path / "pa.csv")
    with pytest.raises(SourceFormatError, match=r"rule 'required columns present'.*\['lat'\]"):
        source.read_pa_metadata(FS, str(tmp_path / "pa.csv"), split="train")
    po = pl.read_csv(SAMPLE / source.PO_FILES[0]).drop("speciesId")
    po.write_csv(tmp_path / "po.csv")
    with pytest.raises(SourceFormatError, match="speciesId"):
        source.scan_po(str(tmp_path / "po.csv"))


def test_unparseable_value_names_its_line(tmp_path):
    lines = (SAMPLE / source.PA_TRAIN_FILE).read_text().splitlines()
    lines[41] = lines[41].replace(lines[41].split(",")[1], "north", 1)  # line 42: lat is text
    (tmp_path / "pa.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(SourceFormatError) as err:
        source.read_pa_metadata(FS, str(tmp_path / "pa.csv"), split="train")
    assert err.value.row == 42 and err.value.rule == "column lat is Float64"


def test_unparseable_po_value_deep_in_the_stream_names_its_line_and_replaces_nothing(tmp_path):
    from dagster_project.datasets.geoplant.assets import PO_TABLE, ingest_po
    from dagster_project.storage import Lake

    lake = Lake(root=str(tmp_path / "lake"))
    ingest_po(lake, str(SAMPLE / source.PO_FILES[0]), "po.csv")
    before = {p: Path(p).read_bytes() for p in lake.glob(f"{PO_TABLE}/*/*.parquet")}
    lines = (SAMPLE / source.PO_FILES[0]).read_text().splitlines()
    parts = lines[4000].split(",")
    parts[10] = "Quercus"  # speciesId
    lines[4000] = ",".join(parts)
    (tmp_path / "po.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(SourceFormatError) as err:
        ingest_po(lake, str(tmp_path / "po.csv"), "po.csv")
    assert err.value.row == 4001 and "speciesId" in err.value.rule and "po.csv" in str(err.value)
    # The failed pass replaced no partition.
    assert {p: Path(p).read_bytes() for p in lake.glob(f"{PO_TABLE}/*/*.parquet")} == before


def test_unreadable_jpeg_names_file_and_survey(bundle):
    sid = int(pl.read_csv(bundle / source.PA_TRAIN_FILE)["surveyId"][0])
    rgb_root = str(bundle / source.patch_root("train", "rgb"))
    path = Path(source.construct_patch_path(rgb_root, sid))
    path.write_bytes(path.read_bytes()[:40])  # truncated transfer
    with pytest.raises(SourceFormatError) as err:
        source.read_patch(FS, rgb_root, str(bundle / source.patch_root("train", "nir")), sid)
    assert (
        err.value.rule == "readable JPEG patch" and str(sid) in str(err.value) and str(path) in str(err.value)
    )
    buf = io.BytesIO()
    Image.new("RGB", (64, 64)).save(buf, format="JPEG")
    path.write_bytes(buf.getvalue())
    with pytest.raises(SourceFormatError, match="patch is 128x128"):
        source.read_patch(FS, rgb_root, str(bundle / source.patch_root("train", "nir")), sid)


def test_swapped_and_out_of_range_coordinates_are_flagged():
    long = source.read_pa_metadata(FS, str(SAMPLE / source.PA_TRAIN_FILE), split="train", file="pa.csv")
    assert checks.swapped_coordinates(long).passed
    bad = long.with_columns(
        pl.when(pl.col("source_row") == 7).then(pl.col("lon")).otherwise(pl.col("lat")).alias("lat"),
        pl.when(pl.col("source_row") == 7).then(pl.col("lat")).otherwise(pl.col("lon")).alias("lon"),
    )
    res = checks.swapped_coordinates(bad)
    assert not res.passed and res.unexpected_count == 1
    assert res.examples[0]["source_file"] == "pa.csv" and res.examples[0]["source_row"] == 7


def test_po_stream_rules_count_in_one_aggregate_and_fetch_examples_of_failures_only():
    rules = checks.po_stream_rules()
    lf = pl.LazyFrame(
        {
            "lat": [45.0, 80.0, 46.0, None],
            "lon": [5.0, 5.0, 5.0, 5.0],
            "speciesId": [1, 2, 20000, 3],
            "surveyId": [1, 2, 3, 4],
            "year": [2018, 2019, 2020, 2021],
            "source_file": ["po.csv"] * 4,
            "source_row": [2, 3, 4, 5],
        }
    )
    counts = checks.streamed_counts(lf, rules).collect()
    assert counts.height == 1 and counts["rows"][0] == 4
    extent, species, survey, year = checks.record_streamed(lf, rules, counts)
    assert not extent.passed and extent.unexpected_count == 2 and extent.element_count == 4
    assert [e["source_row"] for e in extent.examples] == [3, 5]  # a null latitude breaks the rule too
    assert not species.passed and species.examples == [
        {"source_file": "po.csv", "source_row": 4, "speciesId": 20000}
    ]
    assert survey.passed and year.passed and survey.examples == []


def test_pa_suite_flags_duplicate_pairs_and_out_of_range_rows_with_file_and_line():
    from dagster_project.validation import validate_frame

    long = source.read_pa_metadata(FS, str(SAMPLE / source.PA_TRAIN_FILE), split="train", file="pa.csv")
    assert validate_frame(long, suite="geoplant_pa_ok", rules=checks.pa_rules("train")).passed
    dup = pl.concat(
        [
            long,
            long.filter(pl.col("source_row") == 10).with_columns(
                pl.lit(99_999, dtype=pl.Int64).alias("source_row")
            ),
        ]
    )
    bad = dup.with_columns(
        pl.when(pl.col("source_row") == 20).then(80.0).otherwise(pl.col("lat")).alias("lat")
    )
    report = validate_frame(bad, suite="geoplant_pa_bad", rules=checks.pa_rules("train"))
    failed = {r.rule.split(",")[0]: r for r in report.failures}
    assert set(failed) == {"ExpectCompoundColumnsToBeUnique(['surveyId'", "ExpectColumnValuesToBeBetween(lat"}
    lat = failed["ExpectColumnValuesToBeBetween(lat"]
    assert lat.examples == [{"lat": 80.0, "source_file": "pa.csv", "source_row": 20}]
    rows = {e["source_row"] for e in failed["ExpectCompoundColumnsToBeUnique(['surveyId'"].examples}
    assert rows == {10, 99_999}


def test_remote_urls_and_kaggle_credentials():
    from dagster_project.datasets.geoplant.assets import _kaggle_headers, _remote_plan
    from dagster_project.resources import SourceCredentials

    url = source.seafile_url(source.PO_FILES[0])
    assert url == (
        "https://lab.plantnet.org/seafile/d/bdb829337aa44a9489f6/files/"
        "?p=/PresenceOnlyOccurrences/GLC24_PO_metadata_train.csv&dl=1"
    )
    env = source.seafile_url(source.env_relpath("train", "bioclimatic"))
    assert "p=/EnvironmentalRasters/Climate/Average%201981-2010/GLC24-PA-train-bioclimatic.csv" in env
    assert source.kaggle_url(source.PA_TEST_FILE).endswith(
        "/competitions/data/download/geolifeclef-2024/GLC24_PA_metadata_test.csv"
    )
    with pytest.raises(ValueError, match="KAGGLE_USERNAME and KAGGLE_KEY"):
        _remote_plan("kaggle", SourceCredentials())
    base, url_for, headers = _remote_plan("kaggle", SourceCredentials(kaggle_username="u", kaggle_key="k"))
    assert headers == _kaggle_headers(SourceCredentials(kaggle_username="u", kaggle_key="k"))
    assert headers["Authorization"] == "Basic dTpr" and url_for(source.PA_TRAIN_FILE).startswith(base)
    share = "https://example.org/seafile/d/abc"
    _, url_for, headers = _remote_plan(share, SourceCredentials())
    assert (
        url_for(source.PA_TRAIN_FILE).startswith(f"{share}/files/?p=/PresenceAbsenceSurveys/") and not headers
    )
