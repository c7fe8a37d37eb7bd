"""AGBD plain-Python validation rules on a real tile of the sample, and on copies broken one rule at a time."""

from pathlib import Path

import fsspec
import numpy as np
import polars as pl
import pytest

from dagster_project.datasets.agbd import checks, source

SAMPLE = Path(__file__).resolve().parents[2] / "assets" / "agbd"


@pytest.fixture(scope="module")
def tile() -> pl.DataFrame:
    fs = fsspec.filesystem("file")
    index = source.tile_index(fs, str(SAMPLE))
    return source.read_tile(fs, str(SAMPLE), "21KWQ", source.tile_sources(index, "21KWQ"))


def _failed(results) -> dict[str, object]:
    return {r.rule: r for r in results if not r.passed}


def test_sample_tile_passes_every_rule(tile):
    assert _failed(checks.patch_python_rules(checks.PatchSummary.of(tile))) == {}
    index = source.tile_index(fsspec.filesystem("file"), str(SAMPLE))
    assert checks.split_coverage_rule(index).passed


def test_footprint_outside_its_utm_zone_band_is_named(tile):
    moved = tile.with_columns(
        lon=pl.when(pl.int_range(pl.len()) == 7).then(pl.col("lon") + 12.0).otherwise(pl.col("lon"))
    )
    (bad,) = _failed([checks.location_rule(moved)]).values()
    assert bad.unexpected_count == 1
    (example,) = bad.examples
    assert example["tile"] == "21KWQ" and example["source_row"] == 7
    assert example["source_file"] == "data_subset-2019-v4_1-20.h5"


def test_reflectance_out_of_range_names_band_and_footprint(tile):
    s2 = tile["s2_reflectance"].to_numpy().copy()
    s2[3, 7, 0, 0] = 3.5  # B08
    broken = tile.with_columns(pl.Series("s2_reflectance", s2, dtype=tile.schema["s2_reflectance"]))
    failed = _failed(checks.band_range_rules(checks.PatchSummary.of(broken)))
    assert list(failed) == ["value range: s2_reflectance[B08] in [0.0, 1.6]"]
    (example,) = failed["value range: s2_reflectance[B08] in [0.0, 1.6]"].examples
    assert example["source_row"] == 3 and example["value"] == 3.5


def test_mostly_nodata_band_fails_the_nodata_fraction_rule(tile):
    ch = tile["canopy_height"].to_numpy().copy()
    ch[:, :, :20] = np.nan
    broken = tile.with_columns(pl.Series("canopy_height", ch, dtype=tile.schema["canopy_height"]))
    failed = _failed(checks.nodata_rules(checks.PatchSummary.of(broken)))
    assert list(failed) == [f"nodata fraction of canopy_height <= {checks.MAX_NODATA_FRACTION}"]
    assert (
        failed[f"nodata fraction of canopy_height <= {checks.MAX_NODATA_FRACTION}"].examples[0]["tile"]
        == "21KWQ"
    )


def test_unexpected_band_order_is_reported_once_per_file(tile):
    broken = tile.with_columns(s2_band_order=pl.lit("B02,B01"))
    (bad,) = _failed(checks.band_order_rules(broken)).values()
    assert bad.unexpected_count == tile.height
    assert sorted(e["source_file"] for e in bad.examples) == sorted(set(tile["source_file"]))
    assert all(e["order"] == "B02,B01" for e in bad.examples)
