"""GeoPlant environmental predictors as optional families, under both published namings, and both Landsat CSV
forms; plus a conformance test against a port of the authors' reading logic on an independently written tree.

The fixture here is written from the authors' code, not from `sample.py`: other survey ids (9,000,000+), other
sizes (29 + 8 surveys), other values, some families absent, surveys missing from some files, empty cells, `eos`.
The port (in this file only) follows:
- file locations: `plantnet/GeoLifeCLEF` `download.py` (Seafile: `EnvironmentalRasters/Climate/GLC24-PA-<split>-
  bioclimatic-average.csv`, `HumanFootprint/GLC24-PA-<split>-human-footprint.csv`, `Soilgrids/...`,
  `SatelliteTimeSeries/GLC24-PA-<split>-landsat-time-series-<band>.csv`) and the Kaggle bundle checked by malpolon
  (`EnvironmentalRasters/EnvironmentalRasters/Climate/Average 1981-2010/GLC24-PA-<split>-bioclimatic.csv`, ...);
- predictor CSVs: `plantnet/GeoPlant` `baselines/XGBoost/geoplant_xgb/io_csv.py` (`pd.read_csv`, numeric columns
  but `surveyId`, unique ids, left merge onto the surveys collapsed with `groupby(surveyId).first()`);
- Landsat GLC23 CSVs: malpolon `CSVTimeSeriesProvider` (`pd.read_csv(sep=';').set_index('timeSerieID')`, `eos`
  replaced); GLC24 CSVs: `pd.read_csv` (`,`) keyed by `surveyId`, empty cells NaN.
"""

from pathlib import Path

import fsspec
import numpy as np
import pandas as pd
import polars as pl
import pytest

from dagster_project.datasets.geoplant import source
from dagster_project.datasets.geoplant.assets import read_env_families
from dagster_project.errors import SourceFormatError
from dagster_project.storage import Lake

FS = fsspec.filesystem("file")
QUARTERS = [f"{y}_{q}" for y in range(2000, 2021) for q in range(1, 5)]

# Published locations per (layout, family); {s} = split. Landsat: {b} = band.
KAGGLE = {
    "bioclimatic": "EnvironmentalRasters/EnvironmentalRasters/Climate/Average 1981-2010/GLC24-PA-{s}-bioclimatic.csv",
    "elevation": "EnvironmentalRasters/EnvironmentalRasters/Elevation/GLC24-PA-{s}-elevation.csv",
    "human_footprint": "EnvironmentalRasters/EnvironmentalRasters/Human Footprint/GLC24-PA-{s}-human_footprint.csv",
    "landcover": "EnvironmentalRasters/EnvironmentalRasters/LandCover/GLC24-PA-{s}-landcover.csv",
    "soilgrids": "EnvironmentalRasters/EnvironmentalRasters/SoilGrids/GLC24-PA-{s}-soilgrids.csv",
    "landsat": "PA-{s}-landsat_time_series/GLC24-PA-{s}-landsat_time_series-{b}.csv",
}
SEAFILE = {
    "bioclimatic": "EnvironmentalRasters/Climate/GLC24-PA-{s}-bioclimatic-average.csv",
    "bioclimatic_monthly": "EnvironmentalRasters/Climate/GLC24-PA-{s}-bioclimatic-monthly.csv",
    "elevation": "EnvironmentalRasters/Elevation/GLC24-PA-{s}-elevation.csv",
    "human_footprint": "EnvironmentalRasters/HumanFootprint/GLC24-PA-{s}-human-footprint.csv",
    "landcover": "EnvironmentalRasters/LandCover/GLC24-PA-{s}-landcover.csv",
    "soilgrids": "EnvironmentalRasters/Soilgrids/GLC24-PA-{s}-soilgrids.csv",
    "landsat": "SatelliteTimeSeries/GLC24-PA-{s}-landsat-time-series-{b}.csv",
}
COLUMNS = {
    "bioclimatic": [f"Bio{i}" for i in (1, 4, 12, 15)],
    "bioclimatic_monthly": ["pr_2001_01", "tas_2001_01", "tasmax_2019_12"],
    "elevation": ["Elevation"],
    "human_footprint": ["HumanFootprint-Roads", "HumanFootprint-HFP2009"],
    "landcover": ["LandCover-1", "LandCover-13"],
    "soilgrids": ["Soilgrid-bdod", "Soilgrid-phh2o", "Soilgrid-soc"],
}


def _ids(rng: np.random.Generator, n: int) -> list[int]:
    return sorted(int(i) for i in rng.choice(np.arange(9_000_000, 9_900_000), size=n, replace=False))


def write_tree(
    root: Path, layout: str, families: list[str], landsat_bands: list[str], seed: int = 11
) -> dict[str, list[int]]:
    """A GLC24 tree with the PA metadata and the given families in `layout` ("kaggle" or "seafile"). Returns the
    survey ids per split."""
    rng = np.random.default_rng(seed)
    ids = {"train": _ids(rng, 29), "test": _ids(rng, 8)}
    paths = KAGGLE if layout == "kaggle" else SEAFILE
    meta_dir = root if layout == "kaggle" else root / "PresenceAbsenceSurveys"
    meta_dir.mkdir(parents=True, exist_ok=True)
    for split, sids in ids.items():
        rows = []
        for sid in sids:
            lat, lon = 44 + rng.random() * 10, 2 + rng.random() * 12
            for sp in sorted(rng.choice(11255, size=3 if split == "train" else 1, replace=False)):
                rows.append(
                    {"lon": round(lon, 5), "lat": round(lat, 5), "surveyId": sid, "speciesId": int(sp)}
                )
        frame = pd.DataFrame(rows)
        if split == "test":
            frame = frame.drop(columns="speciesId")
        frame.to_csv(meta_dir / f"GLC24_PA_metadata_{split}.csv", index=False)
        for family in families:
            rel = paths[family].format(s=split)
            kept = [s for s in sids if rng.random() > 0.1]  # a few surveys absent from each file
            data = {"surveyId": kept}
            for col in COLUMNS[family]:
                vals = np.round(rng.normal(100, 40, len(kept)), 2).astype(object)
                if family == "soilgrids":
                    vals[rng.random(len(kept)) < 0.25] = None  # empty cells, as in the real extraction
                data[col] = vals
            out = root / rel
            out.parent.mkdir(parents=True, exist_ok=True)
            pd.DataFrame(data).to_csv(out, index=False)
        for band in landsat_bands:
            rel = paths["landsat"].format(s=split, b=band)
            out = root / rel
            out.parent.mkdir(parents=True, exist_ok=True)
            key, sep, missing = ("timeSerieID", ";", "eos") if layout == "kaggle" else ("surveyId", ",", "")
            lines = [sep.join([key, *QUARTERS])]
            for sid in sids:
                vals = [str(int(v)) for v in rng.integers(50, 4000, len(QUARTERS))]
                for j in np.flatnonzero(rng.random(len(QUARTERS)) < 0.15):
                    vals[j] = missing
                lines.append(sep.join([str(sid), *vals]))
            out.write_text("\n".join(lines) + "\n")
    return ids


# --- the port of the authors' reading logic ------------------------------------------------------------


def authors_find(root: Path, split: str, family: str) -> Path | None:
    for table in (KAGGLE, SEAFILE):
        if family in table and family != "landsat":
            p = root / table[family].format(s=split)
            if p.is_file():
                return p
    return None


def authors_env(path: Path, surveys: pd.DataFrame) -> pd.DataFrame:
    """geoplant_xgb.io_csv: numeric predictor columns but surveyId, unique ids, left merge onto the surveys."""
    raw = pd.read_csv(path)
    numeric = [c for c in raw.columns if c != "surveyId" and pd.api.types.is_numeric_dtype(raw[c])]
    selected = raw[["surveyId", *sorted(numeric)]]
    assert not selected["surveyId"].duplicated().any()
    return surveys[["surveyId"]].merge(selected, on="surveyId", how="left")


def authors_landsat(path: Path) -> pd.DataFrame:
    """malpolon CSVTimeSeriesProvider (GLC23: `;`, timeSerieID, eos) or pandas defaults (GLC24: `,`, surveyId)."""
    head = path.read_text().split("\n", 1)[0]
    if head.startswith("timeSerieID"):
        ts = pd.read_csv(path, sep=";").set_index("timeSerieID")
        return ts.replace("eos", np.nan).astype(float)
    return pd.read_csv(path).set_index("surveyId").astype(float)


def authors_surveys(root: Path, split: str) -> pd.DataFrame:
    meta = next(root.rglob(f"GLC24_PA_metadata_{split}.csv"))
    return pd.read_csv(meta).groupby("surveyId", as_index=False).first()


# --- tests ----------------------------------------------------------------------------------------------


def _ours(lake_root: Path) -> tuple[pl.DataFrame, dict]:
    raw = lake_root / "raw" / "geoplant"
    rels = [str(p.relative_to(raw)) for p in sorted(raw.rglob("*.csv"))]
    surveys = pl.concat(
        [
            source.group_surveys(
                source.read_pa_metadata(
                    FS, str(raw / source.find_file(rels, f"GLC24_PA_metadata_{s}.csv")), split=s
                )
            )
            for s in source.SPLITS
        ]
    )
    return read_env_families(Lake(root=str(lake_root)), rels, surveys)


@pytest.mark.parametrize(
    "layout, families, bands",
    [
        ("kaggle", ["bioclimatic", "elevation", "soilgrids"], ["red", "swir1"]),
        ("seafile", ["bioclimatic", "bioclimatic_monthly", "human_footprint", "soilgrids"], ["blue", "nir"]),
        ("seafile", ["elevation", "landcover"], []),
        ("kaggle", [], ["green"]),
    ],
)
def test_conformance_with_the_authors_reading_logic(tmp_path, layout, families, bands):
    root = tmp_path / "lake" / "raw" / "geoplant"
    write_tree(root, layout, families, bands, seed=len(families) * 7 + len(bands))
    env, found = _ours(tmp_path / "lake")

    expected_families = [f for f in source.FAMILIES if f in families or (f == "landsat" and bands)]
    assert found["families_present"] == expected_families
    assert set(found["families_absent"]) == set(source.FAMILIES) - set(expected_families)
    assert found["landsat_forms"] == {
        str(p.relative_to(root)): ("GLC23" if layout == "kaggle" else "GLC24")
        for p in root.rglob("*landsat*.csv")
    }
    for split in source.SPLITS:
        surveys = authors_surveys(root, split)
        ours = env.filter(pl.col("split") == split).sort("surveyId")
        assert ours["surveyId"].to_list() == sorted(surveys["surveyId"])
        for family in families:
            theirs = authors_env(authors_find(root, split, family), surveys).sort_values("surveyId")
            for col in theirs.columns.drop("surveyId"):
                mine = source.MONTHLY_PREFIX + col if family == "bioclimatic_monthly" else col
                a = ours[mine].to_numpy().astype(float)
                b = theirs[col].to_numpy().astype(float)
                assert np.array_equal(np.isnan(a), np.isnan(b)), (family, col)
                assert np.allclose(a[~np.isnan(a)], b[~np.isnan(b)]), (family, col)
        for band in bands:
            path = next(root.rglob(f"*PA-{split}-landsat*{band}.csv"))
            theirs = authors_landsat(path)
            long = source.read_landsat_csv(FS, str(path), band=band)
            wide = (
                long.with_columns(
                    (pl.col("year").cast(pl.String) + "_" + pl.col("quarter").cast(pl.String)).alias("q")
                )
                .pivot(on="q", index="surveyId", values="value")
                .sort("surveyId")
            )
            a = wide.select(QUARTERS).to_numpy().astype(float)
            b = theirs.loc[wide["surveyId"].to_list(), QUARTERS].to_numpy()
            assert np.array_equal(np.isnan(a), np.isnan(b)) and np.allclose(a[~np.isnan(a)], b[~np.isnan(b)])
            means = ours.select("surveyId", f"landsat_{band}_mean")
            their_means = theirs.mean(axis=1, skipna=True)
            assert np.allclose(
                means[f"landsat_{band}_mean"].to_numpy(), their_means.loc[means["surveyId"]].to_numpy()
            )


def test_both_namings_side_by_side_read_one_file_per_family_and_report_the_other(tmp_path):
    root = tmp_path / "lake" / "raw" / "geoplant"
    write_tree(root, "kaggle", ["bioclimatic"], [], seed=3)
    write_tree(root / "seafile", "seafile", ["bioclimatic"], [], seed=3)
    env, found = _ours(tmp_path / "lake")
    assert found["families_present"] == ["bioclimatic"]
    assert len(found["files"]["bioclimatic"]) == 2  # one per split
    assert len(found["unread_duplicates"]) == 2 and all("seafile/" in p for p in found["unread_duplicates"])


def test_landsat_glc24_form_with_empty_cells(tmp_path):
    path = tmp_path / "GLC24-PA-train-landsat-time-series-red.csv"
    path.write_text("surveyId,2000_1,2000_2\n9000001,120,\n9000002,,340\n")
    assert source.landsat_form(FS, str(path))[2] == "GLC24"
    long = source.read_landsat_csv(FS, str(path), band="red").sort("surveyId", "quarter")
    assert long["value"].to_list() == [120.0, None, None, 340.0]
    assert long["surveyId"].to_list() == [9000001, 9000001, 9000002, 9000002]


def test_landsat_glc23_form_with_eos(tmp_path):
    path = tmp_path / "GLC24-PA-test-landsat_time_series-nir.csv"
    path.write_text("timeSerieID;2000_1;2000_2\n17;eos;55\n")
    assert source.landsat_form(FS, str(path))[2] == "GLC23"
    assert source.read_landsat_csv(FS, str(path), band="nir")["value"].to_list() == [None, 55.0]


def test_landsat_without_a_key_column_is_named(tmp_path):
    path = tmp_path / "landsat.csv"
    path.write_text("id;2000_1\n1;2\n")
    with pytest.raises(SourceFormatError, match="Landsat key column present"):
        source.read_landsat_csv(FS, str(path), band="red")


def test_family_file_patterns_accept_both_namings_and_nothing_else():
    names = [
        "EnvironmentalRasters/EnvironmentalRasters/Climate/Average 1981-2010/GLC24-PA-train-bioclimatic.csv",
        "EnvironmentalRasters/Climate/GLC24-PA-test-bioclimatic-average.csv",
        "EnvironmentalRasters/Climate/GLC24-PA-train-bioclimatic-monthly.csv",
        "EnvironmentalRasters/HumanFootprint/GLC24-PA-train-human-footprint.csv",
        "EnvironmentalRasters/EnvironmentalRasters/Human Footprint/GLC24-PA-test-human_footprint.csv",
        "EnvironmentalRasters/Soilgrids/GLC24-PA-test-soilgrids.csv",
        "EnvironmentalRasters/Climate/GLC24-PO-train-bioclimatic-average.csv",  # presence-only: not a PA family
        "EnvironmentalRasters/Climate/Climatic_Monthly_2000-2019_cubes/GLC24-PA-train-bioclimatic-monthly.zip",
    ]
    found = source.discover_env_files(names)
    assert sorted(found) == [
        ("test", "bioclimatic"),
        ("test", "human_footprint"),
        ("test", "soilgrids"),
        ("train", "bioclimatic"),
        ("train", "bioclimatic_monthly"),
        ("train", "human_footprint"),
    ]
    bands = source.discover_landsat_files(
        [
            "SatelliteTimeSeries/GLC24-PA-train-landsat-time-series-swir2.csv",
            "PA-test-landsat_time_series/GLC24-PA-test-landsat_time_series-red.csv",
            "SatelliteTimeSeries/GLC24-PA-train-landsat-time-series-thermal.csv",
        ]
    )
    assert sorted(bands) == [("test", "red"), ("train", "swir2")]
    assert source.predictor_family("Bio12") == "bioclimatic"
    assert source.predictor_family("HumanFootprint-Roads") == "human_footprint"
    assert source.predictor_family("lat") is None
