"""Readers for the GeoLifeCLEF 2024 / GeoPlant files, in the Kaggle GLC24 layout (Seafile spellings accepted).

Pure functions: they take an fsspec filesystem and paths and return polars frames or numpy arrays. Bad input
raises `SourceFormatError` naming the file, the line (header = line 1) or survey, and the rule. Typed tables
carry `source_file` and `source_row` (the line number in the file) so later checks can name the bad record.
"""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from urllib.parse import quote

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv
from PIL import Image, UnidentifiedImageError

from dagster_project import settings
from dagster_project.errors import SourceFormatError

REPO_SAMPLE = Path(__file__).resolve().parents[3] / "assets" / "geoplant"

# Documented raster extent of every GeoPlant predictor (docs/environmental_predictors.md), WGS84.
LON_RANGE = (-32.26, 35.58)
LAT_RANGE = (26.63, 72.18)
# Size of the speciesId index space used by the organisers' baselines (NUM_CLASSES = 11255): ids are 0..11254.
NUM_SPECIES = 11255
PATCH_SIZE = 128
TOP_K = 25

PA_TRAIN_FILE = "GLC24_PA_metadata_train.csv"
PA_TEST_FILE = "GLC24_PA_metadata_test.csv"
# Kaggle spells the presence-only file with a digit zero ("P0"), the Seafile release with the letter O.
PO_FILES = ("GLC24_P0_metadata_train.csv", "GLC24_PO_metadata_train.csv")
SAMPLE_SUBMISSION_FILE = "GLC24_SAMPLE_SUBMISSION.csv"
# Kaggle unpacks the environmental archive into a doubly nested folder.
ENV_ROOT = "EnvironmentalRasters/EnvironmentalRasters"
ENV_KINDS = ("bioclimatic", "elevation", "human_footprint", "landcover", "soilgrids")
LANDSAT_BANDS = ("red", "green", "blue", "nir", "swir1", "swir2")
# Landsat CSVs come in two forms: GLC23 (`;`, key `timeSerieID`, `eos` = no value; the organisers' sample data and
# malpolon's CSVTimeSeriesProvider) and GLC24 (`,`, key `surveyId`, empty cell = no value; reported by two
# independent GLC24 pipelines, not verified against a release). The key column decides which separator is expected.
LANDSAT_KEY = "timeSerieID"
LANDSAT_FORMS = {"timeSerieID": (";", "GLC23"), "surveyId": (",", "GLC24")}
LANDSAT_MISSING = "eos"
SPLITS = ("train", "test")

# Optional predictor families. A download may hold any subset, under the Kaggle naming
# (`EnvironmentalRasters/EnvironmentalRasters/Climate/Average 1981-2010/GLC24-PA-train-bioclimatic.csv`) or the
# Seafile one (`EnvironmentalRasters/Climate/GLC24-PA-train-bioclimatic-average.csv`, `...-human-footprint.csv`,
# `Soilgrids/`, `SatelliteTimeSeries/GLC24-PA-train-landsat-time-series-red.csv`): files are found by name pattern,
# wherever they sit.
FAMILIES = (
    "bioclimatic",
    "bioclimatic_monthly",
    "elevation",
    "human_footprint",
    "landcover",
    "soilgrids",
    "landsat",
)
_ENV_FILE = re.compile(
    r"^(?:GLC24[-_])?PA[-_](?P<split>train|test)[-_]"
    r"(?P<family>bioclimatic(?:[-_](?:average|monthly))?|elevation|human[-_]footprint|land[-_]?cover|soil[-_]?grids?)"
    r"\.csv$",
    re.IGNORECASE,
)
_LANDSAT_FILE = re.compile(
    r"^(?:GLC24[-_])?PA[-_](?P<split>train|test)[-_]landsat[-_]time[-_]series[-_](?P<band>[a-z0-9]+)\.csv$",
    re.IGNORECASE,
)
# Which family a predictor column belongs to (GLC24 column names), to say which family a missing feature needs.
# Columns of the monthly bioclimatic CSV are prefixed `monthly_` on reading so they never collide with the averages.
MONTHLY_PREFIX = "monthly_"
FAMILY_COLUMNS = {
    "bioclimatic": re.compile(r"^bio\d+$", re.IGNORECASE),
    "bioclimatic_monthly": re.compile(rf"^{MONTHLY_PREFIX}", re.IGNORECASE),
    "elevation": re.compile(r"^elevation$", re.IGNORECASE),
    "human_footprint": re.compile(r"^human[-_ ]?footprint", re.IGNORECASE),
    "landcover": re.compile(r"^land[-_ ]?cover", re.IGNORECASE),
    "soilgrids": re.compile(r"^soil[-_ ]?grids?", re.IGNORECASE),
    "landsat": re.compile(r"^landsat_", re.IGNORECASE),
}

# The GeoPlant metadata misspells district as `disctrict` (the authors' XGBoost config maps it too).
COLUMN_ALIASES = {"disctrict": "district"}
PA_TYPES: dict[str, pl.DataType] = {
    "surveyId": pl.Int64,
    "speciesId": pl.Int64,
    "lat": pl.Float64,
    "lon": pl.Float64,
    "year": pl.Int32,
    "geoUncertaintyInM": pl.Float64,
    "areaInM2": pl.Float64,
    "country": pl.String,
    "region": pl.String,
    "county": pl.String,
    "district": pl.String,
    "taxonRank": pl.String,
}
PO_TYPES: dict[str, pl.DataType] = {
    "publisher": pl.String,
    "year": pl.Int32,
    "month": pl.Int32,
    "day": pl.Int32,
    "lat": pl.Float64,
    "lon": pl.Float64,
    "geoUncertaintyInM": pl.Float64,
    "taxonRank": pl.String,
    "date": pl.String,
    "dayOfYear": pl.Int32,
    "speciesId": pl.Int64,
    "surveyId": pl.Int64,
}
PO_REQUIRED = ("year", "lat", "lon", "speciesId", "surveyId")
DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}

# Remote locations. Kaggle needs an account (KAGGLE_USERNAME / KAGGLE_KEY); the Seafile share is public.
KAGGLE_COMPETITION = "geolifeclef-2024"
KAGGLE_API = "https://www.kaggle.com/api/v1"
SEAFILE_SHARE = "https://lab.plantnet.org/seafile/d/bdb829337aa44a9489f6"
# Kaggle-layout relpath -> path inside the GLC24 Seafile share (PO uses the letter O there).
SEAFILE_PATHS = {
    PA_TRAIN_FILE: f"PresenceAbsenceSurveys/{PA_TRAIN_FILE}",
    PA_TEST_FILE: f"PresenceAbsenceSurveys/{PA_TEST_FILE}",
    PO_FILES[0]: f"PresenceOnlyOccurrences/{PO_FILES[1]}",
}


def landsat_columns() -> list[str]:
    """Quarter columns of the Landsat CSV, `2000_1` .. `2020_4` (84 steps, the [6, 4, 21] cubes)."""
    return [f"{y}_{q}" for y in range(2000, 2021) for q in range(1, 5)]


def env_relpath(split: str, kind: str) -> str:
    folders = {
        "bioclimatic": "Climate/Average 1981-2010",
        "elevation": "Elevation",
        "human_footprint": "Human Footprint",
        "landcover": "LandCover",
        "soilgrids": "SoilGrids",
    }
    return f"{ENV_ROOT}/{folders[kind]}/GLC24-PA-{split}-{kind}.csv"


def landsat_relpath(split: str, band: str) -> str:
    return f"PA-{split}-landsat_time_series/GLC24-PA-{split}-landsat_time_series-{band}.csv"


def construct_patch_path(root: str, survey_id: int) -> str:
    """`<root>/<id[-2:]>/<id[-4:-2]>/<id>.jpeg`, the organisers' patch path rule."""
    s = str(survey_id)
    return f"{root}/{s[-2:]}/{s[-4:-2]}/{s}.jpeg"


def patch_root(split: str, kind: str) -> str:
    """Kaggle folder of a split's patches, e.g. `PA_Train_SatellitePatches_RGB/pa_train_patches_rgb`."""
    return f"PA_{split.title()}_SatellitePatches_{kind.upper()}/pa_{split}_patches_{kind}"


def patch_relpath(split: str, kind: str, survey_id: int) -> str:
    return construct_patch_path(patch_root(split, kind), survey_id)


def seafile_url(relpath: str, share: str = SEAFILE_SHARE) -> str:
    """Direct-download URL of a file in a GLC24 Seafile share (metadata under PresenceAbsenceSurveys/ and
    PresenceOnlyOccurrences/, environmental CSVs under EnvironmentalRasters/ without Kaggle's double nesting)."""
    path = SEAFILE_PATHS.get(relpath) or relpath.replace(f"{ENV_ROOT}/", "EnvironmentalRasters/", 1)
    return f"{share.rstrip('/')}/files/?p={quote('/' + path)}&dl=1"


def kaggle_url(relpath: str) -> str:
    """Kaggle API URL of one competition file (basic auth with the user's API key)."""
    return f"{KAGGLE_API}/competitions/data/download/{KAGGLE_COMPETITION}/{quote(relpath)}"


def remote_relpaths(*, landsat_bands: Sequence[str] = LANDSAT_BANDS) -> list[str]:
    """Kaggle-layout CSVs to download: PA/PO metadata, environmental CSVs, and the Landsat CSVs of `landsat_bands`
    (the patches follow from the surveyIds: `patch_relpaths`)."""
    out = [PA_TRAIN_FILE, PA_TEST_FILE, PO_FILES[0]]
    out += [env_relpath(split, kind) for split in SPLITS for kind in ENV_KINDS]
    return out + [landsat_relpath(split, band) for split in SPLITS for band in landsat_bands]


def patch_relpaths(survey_ids: dict[str, Sequence[int]]) -> list[str]:
    """RGB and NIR patch of every survey, per split (`{"train": [...], "test": [...]}`)."""
    return [
        patch_relpath(split, kind, sid)
        for split, ids in survey_ids.items()
        for sid in ids
        for kind in ("rgb", "nir")
    ]


def find_po_file(names: Sequence[str]) -> str:
    """The presence-only file among `names` (relpaths), accepting both the `P0` and `PO` spellings."""
    for name in names:
        if PurePosixPath(name).name in PO_FILES:
            return name
    raise SourceFormatError(file="|".join(PO_FILES), rule="presence-only file present", detail="not found")


def find_file(names: Sequence[str], filename: str) -> str:
    """The relpath whose file name is `filename` (the Seafile layout puts metadata in subfolders)."""
    hits = sorted(n for n in names if PurePosixPath(n).name == filename)
    if not hits:
        raise SourceFormatError(file=filename, rule="file present", detail="not found in the source")
    return hits[0]


def _family_name(raw: str) -> str:
    raw = raw.lower().replace("-", "_")
    if raw.startswith("bioclimatic"):
        return "bioclimatic_monthly" if raw.endswith("monthly") else "bioclimatic"
    if raw.startswith("human"):
        return "human_footprint"
    if raw.startswith("land"):
        return "landcover"
    if raw.startswith("soil"):
        return "soilgrids"
    return raw


def discover_env_files(names: Sequence[str]) -> dict[tuple[str, str], list[str]]:
    """Environmental CSVs among `names` (relpaths), by (split, family), under either naming. Several candidates
    for one (split, family) (e.g. both releases unpacked side by side) are all listed, sorted; the reader takes
    the first and the asset reports the others."""
    out: dict[tuple[str, str], list[str]] = {}
    for name in sorted(names):
        m = _ENV_FILE.match(PurePosixPath(name).name)
        if m:
            out.setdefault((m["split"].lower(), _family_name(m["family"])), []).append(name)
    return out


def discover_landsat_files(names: Sequence[str]) -> dict[tuple[str, str], list[str]]:
    """Landsat band CSVs among `names`, by (split, band): `landsat_time_series` or `landsat-time-series`, with or
    without the `GLC24-` prefix. Unknown band names are ignored."""
    out: dict[tuple[str, str], list[str]] = {}
    for name in sorted(names):
        m = _LANDSAT_FILE.match(PurePosixPath(name).name)
        if m and m["band"].lower() in LANDSAT_BANDS:
            out.setdefault((m["split"].lower(), m["band"].lower()), []).append(name)
    return out


def predictor_family(column: str) -> str | None:
    """The family a predictor column belongs to (None for a column of no known family, e.g. lat/lon)."""
    for family, pattern in FAMILY_COLUMNS.items():
        if pattern.search(column):
            return family
    return None


# --------------------------------------------------------------------------------------------------
# CSV helpers


def _check_header(file: str, header: str, sep: str, required: Sequence[str]) -> list[str]:
    header = header.lstrip("\ufeff").rstrip("\r\n")
    columns = [c.strip().strip('"') for c in header.split(sep)]
    if len(columns) == 1:
        for other, name in DELIMITERS.items():
            if other != sep and other in header:
                raise SourceFormatError(
                    file=file,
                    rule=f"{DELIMITERS[sep]}-separated",
                    detail=f"the header is {name}-separated: {header[:120]!r}",
                    row=1,
                )
    renamed = [COLUMN_ALIASES.get(c, c) for c in columns]
    missing = [c for c in required if c not in renamed]
    if missing:
        raise SourceFormatError(
            file=file,
            rule="required columns present",
            detail=f"missing {missing}; header has {columns}",
            row=1,
        )
    return columns


def _cast_strict(
    file: str, frame: pl.DataFrame, types: dict[str, pl.DataType], null_values=()
) -> pl.DataFrame:
    """Cast string columns to `types`; the first value that does not parse is reported with its line."""
    casts = []
    for name, dtype in types.items():
        if name not in frame.columns or dtype == pl.String:
            continue
        col = pl.col(name).str.strip_chars()
        if null_values:
            col = pl.when(col.is_in(list(null_values))).then(None).otherwise(col)
        casts.append(col.cast(dtype, strict=False).alias(name))
    out = frame.with_columns(casts)
    for name, dtype in types.items():
        if name not in frame.columns or dtype == pl.String:
            continue
        raw = frame[name].str.strip_chars()
        ok_null = raw.is_null() | (raw == "")
        if null_values:
            ok_null = ok_null | raw.is_in(list(null_values))
        bad = out[name].is_null() & ~ok_null
        if bad.any():
            i = int(bad.arg_max())
            raise SourceFormatError(
                file=file,
                rule=f"column {name} is {dtype}",
                detail=f"value {frame[name][i]!r} is not a {dtype}",
                row=int(frame["source_row"][i]),
            )
    return out


def _read_text_csv(fs, path: str, sep: str, required: Sequence[str], file: str | None = None) -> pl.DataFrame:
    """The whole CSV as strings, aliases applied, with `source_file` and `source_row` (line number)."""
    file = file or path
    with fs.open(path, "rb") as fh:
        data = fh.read()
    header = data.split(b"\n", 1)[0].decode("utf-8", errors="replace")
    _check_header(file, header, sep, required)
    try:
        frame = pl.read_csv(
            io.BytesIO(data), separator=sep, infer_schema=False, null_values=[""], truncate_ragged_lines=False
        )
    except pl.exceptions.ComputeError as exc:
        raise SourceFormatError(
            file=file, rule=f"{DELIMITERS[sep]}-separated table", detail=str(exc)[:300]
        ) from exc
    frame = frame.rename({c: COLUMN_ALIASES[c] for c in frame.columns if c in COLUMN_ALIASES})
    return frame.with_columns(
        pl.lit(file).alias("source_file"), (pl.int_range(pl.len(), dtype=pl.Int64) + 2).alias("source_row")
    )


# --------------------------------------------------------------------------------------------------
# Presence-absence metadata


def read_pa_metadata(fs, path: str, *, split: str, file: str | None = None) -> pl.DataFrame:
    """PA metadata in long format (one row per surveyId, speciesId; test has no speciesId), typed.

    Every column in `PA_TYPES` is present in the result (null when the file does not have it), so the Kaggle
    release and the GeoPlant re-release (with `county` / `disctrict`) give the same table.
    """
    required = ["surveyId", "lat", "lon"] + (["speciesId"] if split == "train" else [])
    frame = _read_text_csv(fs, path, ",", required, file)
    frame = _cast_strict(file or path, frame, PA_TYPES)
    missing = [pl.lit(None, dtype=t).alias(c) for c, t in PA_TYPES.items() if c not in frame.columns]
    frame = frame.with_columns(missing)
    if split != "train":
        frame = frame.with_columns(pl.lit(None, dtype=pl.Int64).alias("speciesId"))
    return frame.select([*PA_TYPES, "source_file", "source_row"]).with_columns(pl.lit(split).alias("split"))


def group_surveys(long: pl.DataFrame) -> pl.DataFrame:
    """One row per survey with ALL its species (sorted, unique) and the survey's metadata.

    The organisers' malpolon loader drops duplicate surveyIds before grouping and so keeps one label per
    survey; here the species are aggregated first.
    """
    meta = [c for c in PA_TYPES if c not in ("surveyId", "speciesId", "taxonRank")]
    return (
        long.group_by("surveyId", maintain_order=True)
        .agg(
            *[pl.col(c).first() for c in meta],
            pl.col("split").first(),
            pl.col("speciesId").drop_nulls().unique().sort().alias("speciesIds"),
            pl.col("source_file").first(),
            pl.col("source_row").min(),
        )
        .with_columns(pl.col("speciesIds").list.len().cast(pl.Int32).alias("n_species"))
        .sort("surveyId")
    )


# --------------------------------------------------------------------------------------------------
# Presence-only occurrences (5M rows on the real data): a polars lazy scan, never loaded whole.


# polars' streaming CSV reader reads a local file ahead in chunks of POLARS_CSV_CHUNK_SIZE bytes (32 MB by default,
# read when each query starts), two chunks per pipeline in flight plus as many queued: on the 2-core machine that is
# 250-290 MB of CSV held while the parquet writer catches up, most of the peak RSS of a 5M-row ingest (measured at
# 5M rows / 402 MB: scan + count alone peaks 289 MB over the imports at 32 MB chunks, 59 MB at 1 MB). 1 MB chunks
# (about 12k rows, still several morsels per partition writer's row group) cost no measurable CPU.
PO_CSV_CHUNK_BYTES = 1 << 20
CSV_CHUNK_ENV = settings.POLARS_CSV_CHUNK_ENV


def po_read_ahead(chunk_bytes: int = PO_CSV_CHUNK_BYTES) -> contextlib.AbstractContextManager[None]:
    """Bound polars' CSV read-ahead to `chunk_bytes` per chunk for the queries collected inside the block (the
    knob is only an environment variable, read at the start of each query), then restore it. A value the operator
    set in the environment is left as it is. Collect no other thread's polars query meanwhile: the variable is
    process-wide."""
    return settings.polars_csv_chunk_size(chunk_bytes)


def scan_po(path: str, *, file: str | None = None) -> pl.LazyFrame:
    """The presence-only CSV at the LOCAL `path` as a typed polars lazy frame with `source_file` and `source_row`
    (line number), every column of PO_TYPES present (null when the file lacks it). Nothing is read but the
    header until the frame is collected or sunk; a value that does not parse then raises polars' ComputeError,
    which `locate_bad_po_value` turns into the file, line and column."""
    file = file or path
    with open(path, "rb") as fh:
        header = fh.readline().decode("utf-8", errors="replace")
    columns = _check_header(file, header, ",", PO_REQUIRED)
    lf = pl.scan_csv(
        path,
        schema_overrides={c: PO_TYPES[c] for c in columns if c in PO_TYPES},
        row_index_name="source_row",
        row_index_offset=2,
    )
    missing = [pl.lit(None, dtype=t).alias(c) for c, t in PO_TYPES.items() if c not in columns]
    return lf.with_columns(*missing, pl.lit(file).alias("source_file")).select(
        *PO_TYPES, "source_file", pl.col("source_row").cast(pl.Int64)
    )


def locate_bad_po_value(path: str, file: str, block_bytes: int = 4 << 20) -> None:
    """Slow path after a parse failure of the LOCAL CSV `path`: re-read it as text and raise for the first value
    that does not cast, naming `file`, the line and the column."""
    offset = 2
    with open(path, "rb") as fh:
        reader = pacsv.open_csv(
            fh,
            read_options=pacsv.ReadOptions(block_size=block_bytes),
            convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(PO_TYPES, pa.string())),
        )
        for batch in reader:
            frame = pl.from_arrow(batch)
            frame = frame.with_columns(
                (pl.int_range(frame.height, dtype=pl.Int64) + offset).alias("source_row")
            )
            offset += frame.height
            _cast_strict(file, frame, PO_TYPES)


# --------------------------------------------------------------------------------------------------
# Environmental values and Landsat time series


def read_env_csv(fs, path: str, *, file: str | None = None, family: str | None = None) -> pl.DataFrame:
    """One environmental CSV (surveyId + numeric predictors) with every predictor as Float64, gaps as null.
    Columns of the monthly bioclimatic family get the `monthly_` prefix (see FAMILY_COLUMNS)."""
    frame = _read_text_csv(fs, path, ",", ["surveyId"], file)
    if family == "bioclimatic_monthly":
        frame = frame.rename(
            {
                c: MONTHLY_PREFIX + c
                for c in frame.columns
                if c not in ("surveyId", "source_file", "source_row") and not c.startswith(MONTHLY_PREFIX)
            }
        )
    predictors = [c for c in frame.columns if c not in ("surveyId", "source_file", "source_row")]
    types = {"surveyId": pl.Int64, **dict.fromkeys(predictors, pl.Float64)}
    frame = _cast_strict(file or path, frame, types, null_values=("nan", "NaN", "NA"))
    frame = frame.with_columns(pl.col(predictors).fill_nan(None))
    dup = frame["surveyId"].is_duplicated()
    if dup.any():
        i = int(dup.arg_max())
        raise SourceFormatError(
            file=file or path, rule="surveyId unique", detail=f"surveyId {frame['surveyId'][i]}", row=i + 2
        )
    return frame.select(["surveyId", *predictors])


def join_env(
    frames: Sequence[pl.DataFrame] | Mapping[str, pl.DataFrame], survey_ids: pl.Series
) -> pl.DataFrame:
    """Left-join every environmental table onto the survey ids (a survey missing from a file gets nulls). With a
    mapping family -> table, a column that an earlier family already provides is renamed `<family>_<column>`."""
    out = pl.DataFrame({"surveyId": survey_ids.unique().sort()})
    items = frames.items() if isinstance(frames, Mapping) else ((None, f) for f in frames)
    for family, frame in items:
        clash = {c: f"{family}_{c}" for c in frame.columns if c != "surveyId" and c in out.columns}
        out = out.join(frame.rename(clash), on="surveyId", how="left")
    return out


def landsat_form(fs, path: str, file: str | None = None) -> tuple[str, str, str]:
    """(key column, separator, form name) of a Landsat CSV, from its header: `timeSerieID` means the GLC23 form
    (`;`), `surveyId` the GLC24 form (`,`). A header with the key but the other separator is an error naming
    the expected separator (rule `<name>-separated`)."""
    file = file or path
    with fs.open(path, "rb") as fh:
        header = fh.readline().decode("utf-8", errors="replace").lstrip("\ufeff").rstrip("\r\n")
    tokens = {t.strip().strip('"') for t in re.split(r"[;,\t|]", header)}
    for key, (sep, form) in LANDSAT_FORMS.items():
        if key in tokens:
            return key, sep, form
    raise SourceFormatError(
        file=file,
        rule="Landsat key column present",
        detail=f"neither {list(LANDSAT_FORMS)} in the header {header[:120]!r}",
        row=1,
    )


def read_landsat_csv(fs, path: str, *, band: str, file: str | None = None) -> pl.DataFrame:
    """One Landsat band CSV in long format (surveyId, band, year, quarter, value). Both published forms are read:
    GLC23 (`;`, key `timeSerieID`) and GLC24 (`,`, key `surveyId`); quarter columns `YYYY_Q`; `eos` and empty
    cells are missing values in either form."""
    file = file or path
    key, sep, _ = landsat_form(fs, path, file)
    frame = _read_text_csv(fs, path, sep, [key], file)
    quarters = [c for c in frame.columns if len(c) == 6 and c[4] == "_" and c[:4].isdigit()]
    if not quarters:
        raise SourceFormatError(file=file, rule="YYYY_Q quarter columns present", row=1)
    types = {key: pl.Int64, **dict.fromkeys(quarters, pl.Float32)}
    frame = _cast_strict(file, frame, types, null_values=(LANDSAT_MISSING,))
    long = frame.unpivot(index=[key], on=quarters, variable_name="quarter_label", value_name="value")
    return long.select(
        pl.col(key).alias("surveyId"),
        pl.lit(band).alias("band"),
        pl.col("quarter_label").str.slice(0, 4).cast(pl.Int32).alias("year"),
        pl.col("quarter_label").str.slice(5, 1).cast(pl.Int32).alias("quarter"),
        pl.col("value"),
    )


def landsat_features(long: pl.DataFrame) -> pl.DataFrame:
    """Per survey and band, the mean over the quarters with a value (a cheap summary of the 84 steps)."""
    wide = (
        long.group_by("surveyId", "band")
        .agg(pl.col("value").mean().alias("mean"))
        .with_columns(("landsat_" + pl.col("band") + "_mean").alias("feature"))
        .sort("surveyId", "feature")
        .pivot(on="feature", index="surveyId", values="mean")
        .sort("surveyId")
    )
    # Columns in the published band order, whatever order the group-by produced (a stable schema).
    bands = [f"landsat_{b}_mean" for b in LANDSAT_BANDS if f"landsat_{b}_mean" in wide.columns]
    return wide.select("surveyId", *bands)


# --------------------------------------------------------------------------------------------------
# Sentinel-2 patches


def decode_jpeg(payload: bytes, *, file: str, survey_id: int, mode: str) -> np.ndarray:
    """Decode one patch JPEG to (channels, 128, 128) uint8, or raise naming the file and the survey."""
    try:
        with Image.open(io.BytesIO(payload)) as img:
            img.load()
            if img.format != "JPEG":
                raise UnidentifiedImageError(f"format {img.format}")
            arr = np.asarray(img.convert(mode))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise SourceFormatError(
            file=file, rule="readable JPEG patch", detail=str(exc)[:200], row=f"surveyId {survey_id}"
        ) from exc
    if arr.shape[:2] != (PATCH_SIZE, PATCH_SIZE):
        raise SourceFormatError(
            file=file,
            rule=f"patch is {PATCH_SIZE}x{PATCH_SIZE}",
            detail=f"got {arr.shape[1]}x{arr.shape[0]}",
            row=f"surveyId {survey_id}",
        )
    return arr.transpose(2, 0, 1) if arr.ndim == 3 else arr[None]


def read_patch(fs, rgb_root: str, nir_root: str, survey_id: int) -> np.ndarray:
    """RGB and NIR read separately and stacked to a (4, 128, 128) uint8 tensor (R, G, B, NIR)."""
    parts = []
    for root, mode in ((rgb_root, "RGB"), (nir_root, "L")):
        path = construct_patch_path(root, survey_id)
        with fs.open(path, "rb") as fh:
            parts.append(decode_jpeg(fh.read(), file=path, survey_id=survey_id, mode=mode))
    return np.concatenate(parts, axis=0)
