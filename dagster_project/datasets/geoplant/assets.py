"""GeoPlant ingestion: raw GLC24 files → typed PA occurrences, surveys, streamed PO occurrences, environmental
features and Sentinel-2 patch tensors, each validated in the step that writes it."""

import base64
import contextlib
import os
import shutil
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

import dagster as dg
import numpy as np
import polars as pl
import pyarrow.parquet as pq
import requests

from dagster_project.errors import SourceFormatError
from dagster_project.ingest import RawSource, SourceConfig, Table, raw_files_asset, table_asset
from dagster_project.raw import ingest_raw, is_http, raw_relpath, read_manifest
from dagster_project.resource_hints import resource_hints
from dagster_project.resources import SourceCredentials
from dagster_project.storage import Lake
from dagster_project.validation import RuleResult, combine, python_report, validate_frame

from . import checks, source

DATASET = "geoplant"
PO_TABLE = "tables/geoplant_po_occurrences"
PO_ROW_GROUP = 10_000
STAGING = "tables/_staging"  # outside every table's folder, so no reader's glob sees half-done output
PATCH_ARRAYS = "arrays/geoplant_patches"
PATCH_SHARD = 1000  # surveys per .npy shard: 1000 x 4 x 128 x 128 uint8 = 66 MB in memory at most


class GeoPlantSourceConfig(SourceConfig):
    """Where to read GLC24 from. Empty `location` means `CDP_GEOPLANT_SOURCE`, else the sample in
    `assets/geoplant`. A folder or `s3://` prefix in the Kaggle layout is copied whole. An `https://` base URL is
    downloaded file by file (metadata, environmental CSVs, Landsat CSVs, then the patch of every PA survey):
    `kaggle` means the Kaggle competition API (needs KAGGLE_USERNAME / KAGGLE_KEY), a Seafile share URL
    (`.../seafile/d/<id>`) maps the Kaggle names to Seafile's folders (metadata and CSVs only: Seafile has the
    patches as zips), any other URL is read as `<url>/<Kaggle relpath>`."""

    files: list[str] = []
    landsat_bands: list[str] = list(source.LANDSAT_BANDS)
    download_patches: bool = True


def _kaggle_headers(credentials: SourceCredentials) -> dict[str, str]:
    if not (credentials.kaggle_username and credentials.kaggle_key):
        raise ValueError(
            "geoplant: the Kaggle source needs KAGGLE_USERNAME and KAGGLE_KEY in the environment"
        )
    token = base64.b64encode(f"{credentials.kaggle_username}:{credentials.kaggle_key}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def _remote_plan(location: str, credentials: SourceCredentials):
    """(base URL, url_for, headers) for an HTTP(S) source."""
    if location == "kaggle":
        return source.KAGGLE_API, source.kaggle_url, _kaggle_headers(credentials)
    if "/seafile/d/" in location:
        return location, lambda rel: source.seafile_url(rel, share=location), {}
    return location, None, {}


def _ingest(src: RawSource) -> pl.DataFrame:
    if not (is_http(src.location) or src.location == "kaggle"):
        return src.copy(src.config.files or None)
    if src.config.files:
        base, url_for, headers = _remote_plan(src.location, src.credentials)
        return ingest_raw(
            src.lake, DATASET, base, src.config.files, url_for=url_for, headers=headers, log_fn=src.log.info
        )
    return _download_release(src)


geoplant_raw_files = raw_files_asset(
    DATASET,
    kinds={"python", "csv"},
    config=GeoPlantSourceConfig,
    ingest=_ingest,
    description="GLC24 source files (PA/PO metadata, environmental and Landsat CSVs, Sentinel-2 JPEG patches) "
    "copied byte for byte into `raw/geoplant/`, with their manifest (size, sha256, source URL, retrieval time). "
    "Unchanged files are not copied again; a changed file's previous copy is kept under `raw/geoplant/_history/`.",
)


def _download_release(src: RawSource) -> pl.DataFrame:
    """Download a GLC24 release over HTTP(S): the required metadata and environmental CSVs, the Landsat CSVs that
    exist (a 404 is logged and skipped: they are optional), then one RGB and one NIR patch per PA survey."""
    config, lake, location = src.config, src.lake, src.location
    base, url_for, headers = _remote_plan(location, src.credentials)

    def fetch(files: list[str]) -> pl.DataFrame:
        return ingest_raw(lake, DATASET, base, files, url_for=url_for, headers=headers, log_fn=src.log.info)

    fetch(source.remote_relpaths(landsat_bands=()))
    for split in source.SPLITS:
        for band in config.landsat_bands:
            rel = source.landsat_relpath(split, band)
            try:
                fetch([rel])
            except requests.HTTPError as exc:
                if exc.response is None or exc.response.status_code != 404:
                    raise
                src.log.info(f"{rel}: not published at {base} (404); Landsat features will lack this band")
    manifest = read_manifest(lake, DATASET)
    if config.download_patches and "/seafile/d/" in location:
        src.log.warning(
            "geoplant: Seafile publishes the patches only as zip archives; patches not downloaded"
        )
    elif config.download_patches:
        # Patch paths follow from the surveyIds, so they are listed once the PA metadata is in.
        ids = {
            split: source.read_pa_metadata(lake.fs, _raw(lake, rel), split=split, file=rel)["surveyId"]
            .unique()
            .sort()
            .to_list()
            for split, rel in (("train", source.PA_TRAIN_FILE), ("test", source.PA_TEST_FILE))
        }
        manifest = fetch(source.patch_relpaths(ids))
    return manifest


def _relpaths(manifest: pl.DataFrame) -> list[str]:
    return manifest["relpath"].to_list()


def _raw(lake: Lake, relpath: str) -> str:
    return lake.path(raw_relpath(DATASET, relpath))


# --- presence-absence surveys -------------------------------------------------------------------------------


@table_asset(
    "geoplant_pa_occurrences",
    dataset=DATASET,
    check_description="GX suite per split: lat/lon inside the GeoPlant extent (-32.26, 26.63)-(35.58, 72.18), "
    "speciesId within 0..11254, no duplicated (surveyId, speciesId) row; plus lat/lon not swapped and "
    "one location per survey.",
)
def geoplant_pa_occurrences(context: dg.AssetExecutionContext, lake: Lake, geoplant_raw_files: pl.DataFrame):
    """Presence-absence metadata of both splits in the source's long format: one row per (surveyId, speciesId)
    for train, one per survey for test (no species). Typed columns: lat, lon, year, geoUncertaintyInM, areaInM2,
    country, region, county, district (the source's `disctrict`), taxonRank, plus split and the source file and
    line of every row."""
    rels = _relpaths(geoplant_raw_files)
    frames, reports = [], []
    for split, name in (("train", source.PA_TRAIN_FILE), ("test", source.PA_TEST_FILE)):
        rel = source.find_file(rels, name)
        long = source.read_pa_metadata(lake.fs, _raw(lake, rel), split=split, file=rel)
        gx = validate_frame(long, suite=f"geoplant_pa_{split}", rules=checks.pa_rules(split), lake=lake)
        py = python_report(
            f"geoplant_pa_{split}",
            [checks.swapped_coordinates(long), checks.consistent_survey_location(long)],
            long.height,
        )
        reports += [gx, py]
        frames.append(long)
    df = pl.concat(frames)
    report = combine("geoplant_pa_occurrences", *reports)
    meta = {"surveys": df["surveyId"].n_unique(), "species": df["speciesId"].drop_nulls().n_unique()}
    return Table(df, report, meta)


@table_asset(
    "geoplant_pa_surveys",
    dataset=DATASET,
    check_description="surveyId is unique after grouping, and every train survey lists at least one species.",
)
def geoplant_pa_surveys(context: dg.AssetExecutionContext, geoplant_pa_occurrences: pl.DataFrame):
    """One row per PA survey with ALL its species (`speciesIds`, sorted, unique) and its metadata. The organisers'
    malpolon loader drops duplicate surveyIds before grouping and keeps one label per survey; this table keeps
    every label, as the GeoPlant baselines do."""
    df = source.group_surveys(geoplant_pa_occurrences)
    no_species = df.filter((pl.col("split") == "train") & (pl.col("n_species") == 0))
    report = python_report(
        "geoplant_pa_surveys",
        [
            checks.unique_surveys(df),
            RuleResult(
                rule="every train survey lists a species",
                passed=no_species.height == 0,
                unexpected_count=no_species.height,
                examples=no_species.head(5).select("surveyId", "source_file", "source_row").to_dicts(),
            ),
        ],
        df.height,
    )
    train = df.filter(pl.col("split") == "train")
    meta = {
        "train_surveys": train.height,
        "test_surveys": df.height - train.height,
        "mean_species_per_train_survey": float(train["n_species"].mean() or 0.0),
    }
    return Table(df, report, meta)


# --- presence-only occurrences (streamed) -------------------------------------------------------------------


def write_po_partitions(
    lake: Lake, lf: pl.LazyFrame, rules: Sequence[checks.StreamedRule]
) -> tuple[Counter, list[RuleResult]]:
    """Write the presence-only lazy frame as one parquet file per year under
    `tables/geoplant_po_occurrences/year=<y>/data.parquet`, and evaluate `rules`, in ONE streaming pass: the
    partitioned sink and the rules' count aggregates are collected together (`pl.collect_all`), so polars reads
    the CSV once and memory stays at the engine's buffers, with its CSV read-ahead bounded (`po_read_ahead`).
    Rows breaking a rule are written too (the blocking check stops downstream work); their examples come from a
    second pass only when a rule fails.

    The sink goes to a staging folder first; files are moved into place only after the whole pass succeeded
    (atomic per file), so a parse error leaves every existing partition as it was. Years not produced by this
    run are removed afterwards. Returns (rows per year, rule results)."""
    local = lake.is_local
    # Locally the staging folder sits on the lake's disk, so moving a file into place is a rename.
    stage = (
        lake.path(f"{STAGING}/geoplant_po_occurrences-{uuid.uuid4().hex}")
        if local
        else tempfile.mkdtemp(prefix="geoplant-po-")
    )
    try:
        os.makedirs(stage, exist_ok=True)
        sink = lf.sink_parquet(
            pl.PartitionBy(stage, key="year", include_key=True, approximate_bytes_per_file=None),
            # Small row groups: each open partition buffers one, so this bounds the partitioned sink's memory
            # (measured at 500k rows: about 30 MB less peak RSS than polars' default, no loss of speed).
            row_group_size=PO_ROW_GROUP,
            lazy=True,
        )
        with source.po_read_ahead():
            _, counts = pl.collect_all([sink, checks.streamed_counts(lf, list(rules))])
            results = checks.record_streamed(lf, list(rules), counts)
        rows: Counter = Counter()
        written = set()
        for path, n in _numbered(sorted(Path(stage).rglob("*.parquet"))):
            part = path.parent.name  # "year=<y>"
            year = part.split("=", 1)[1]
            rows[int(year) if year.lstrip("-").isdigit() else year] += pq.read_metadata(path).num_rows
            rel = f"{PO_TABLE}/{part}/data{'' if n == 0 else f'-{n}'}.parquet"
            written.add(rel)
            if local:
                os.makedirs(os.path.dirname(lake.path(rel)), exist_ok=True)
                os.replace(path, lake.path(rel))
            else:
                with open(path, "rb") as src, lake.atomic_open(rel, "wb") as dst:
                    shutil.copyfileobj(src, dst, 8 << 20)
        keep = {f"year={y}" for y in rows}
        for path in lake.glob(f"{PO_TABLE}/*"):
            if PurePosixPath(path).name not in keep:
                lake.fs.rm(path, recursive=True)
        for path in lake.glob(f"{PO_TABLE}/*/*.parquet"):
            if lake.relative(path) not in written:
                lake.fs.rm(path)
        return rows, results
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        with contextlib.suppress(OSError):
            os.rmdir(os.path.dirname(stage))  # the shared staging folder, when no other write uses it


def ingest_po(lake: Lake, path: str, rel: str) -> tuple[Counter, list[RuleResult]]:
    """Scan the LOCAL presence-only CSV `path` (raw relpath `rel`) and write it with its checks in one pass
    (`write_po_partitions`). A value that does not parse is reported with file, line and column."""
    lf = source.scan_po(path, file=rel)
    try:
        return write_po_partitions(lake, lf, checks.po_stream_rules())
    except pl.exceptions.PolarsError as exc:
        source.locate_bad_po_value(path, rel)
        raise SourceFormatError(file=rel, rule="presence-only CSV parses", detail=str(exc)[:300]) from exc


def _numbered(paths: list[Path]) -> list[tuple[Path, int]]:
    seen: Counter = Counter()
    out = []
    for p in paths:
        out.append((p, seen[p.parent.name]))
        seen[p.parent.name] += 1
    return out


def _local_copy(lake: Lake, relpath: str, stack: contextlib.ExitStack) -> str:
    """A local path of a raw file: the file itself on a local lake, else a temporary download (polars scans local
    files; the platform's S3 goes through fsspec)."""
    path = _raw(lake, relpath)
    if lake.is_local:
        return path
    tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="geoplant-raw-"))
    local = os.path.join(tmp, PurePosixPath(relpath).name)
    lake.fs.get(path, local)
    return local


@table_asset(
    "geoplant_po_occurrences",
    dataset=DATASET,
    op_tags=resource_hints(cpu="1", memory="2Gi"),  # Kubernetes requests/limits under dagster-k8s
    check_description="Checked on every row in the same streaming pass as the write: lat/lon inside the "
    "GeoPlant extent, speciesId within 0..11254, surveyId and year present.",
)
def geoplant_po_occurrences(context: dg.AssetExecutionContext, lake: Lake, geoplant_raw_files: pl.DataFrame):
    """Presence-only occurrences (GBIF; `GLC24_P0_metadata_train.csv`, also spelled `PO`), one row per record,
    streamed by polars from the raw CSV into parquet partitioned by year
    (`tables/geoplant_po_occurrences/year=<y>/data.parquet`) with the checks evaluated in the same pass, so the
    5M-row file never sits in memory. A value that does not parse stops the step naming file, line and column."""
    rel = source.find_po_file(_relpaths(geoplant_raw_files))
    start = time.perf_counter()
    with contextlib.ExitStack() as stack:
        rows, results = ingest_po(lake, _local_copy(lake, rel, stack), rel)
    elapsed = time.perf_counter() - start
    total = sum(rows.values())
    report = python_report("geoplant_po_occurrences", results, total)
    meta = {
        "dagster/row_count": total,
        "source_file": rel,
        "partitions": dg.MetadataValue.json({str(y): n for y, n in sorted(rows.items(), key=str)}),
        "rows_per_second": round(total / elapsed, 1) if elapsed else 0.0,
        "path": dg.MetadataValue.path(lake.url(PO_TABLE)),
    }
    return Table(None, report, meta)  # written by the streaming pass itself


# --- environmental features ---------------------------------------------------------------------------------


def read_env_families(
    lake: Lake, rels: Sequence[str], surveys: pl.DataFrame
) -> tuple[pl.DataFrame, dict[str, object]]:
    """Every environmental family present among `rels`, joined per split onto the surveys (a survey or a family
    missing from a split gets nulls), and what was found: families present/absent, the file(s) read per family,
    the Landsat form of each band file, and candidates left unread because another file named the same family."""
    env_files = source.discover_env_files(rels)
    landsat_files = source.discover_landsat_files(rels)
    files: dict[str, list[str]] = {}
    unread: list[str] = []
    forms: dict[str, str] = {}
    frames = []
    for split in source.SPLITS:
        ids = surveys.filter(pl.col("split") == split)["surveyId"]
        tables: dict[str, pl.DataFrame] = {}
        for family in source.FAMILIES:
            if family == "landsat":
                bands = {band: paths for (sp, band), paths in sorted(landsat_files.items()) if sp == split}
                if not bands:
                    continue
                long = []
                for band in (b for b in source.LANDSAT_BANDS if b in bands):
                    rel, *rest = bands[band]
                    unread += rest
                    forms[rel] = source.landsat_form(lake.fs, _raw(lake, rel), rel)[2]
                    long.append(source.read_landsat_csv(lake.fs, _raw(lake, rel), band=band, file=rel))
                    files.setdefault(family, []).append(rel)
                tables[family] = source.landsat_features(pl.concat(long))
                continue
            paths = env_files.get((split, family))
            if not paths:
                continue
            rel, *rest = paths
            unread += rest
            tables[family] = source.read_env_csv(lake.fs, _raw(lake, rel), file=rel, family=family)
            files.setdefault(family, []).append(rel)
        frames.append(source.join_env(tables, ids).with_columns(pl.lit(split).alias("split")))
    env = pl.concat(frames, how="diagonal_relaxed")
    predictors = [c for c in env.columns if c not in ("surveyId", "split")]
    env = env.with_columns(pl.col(predictors).cast(pl.Float64).fill_nan(None)).select(
        "surveyId", "split", *predictors
    )
    found = {
        "families_present": [f for f in source.FAMILIES if f in files],
        "families_absent": [f for f in source.FAMILIES if f not in files],
        "files": files,
        "landsat_forms": forms,
        "unread_duplicates": unread,
    }
    return env.sort("split", "surveyId"), found


@table_asset(
    "geoplant_env_features",
    dataset=DATASET,
    check_description="Every predictor value is finite or missing (an infinity would corrupt the medians and "
    "scalers a model fits); missing values are kept and imputed by each model from its fitting subset.",
)
def geoplant_env_features(
    context: dg.AssetExecutionContext,
    lake: Lake,
    geoplant_raw_files: pl.DataFrame,
    geoplant_pa_surveys: pl.DataFrame,
):
    """Environmental predictors of every PA survey, joined by surveyId, from whichever optional families the
    download holds (found by file-name pattern, Kaggle or Seafile naming): bioclimatic averages 1981-2010 (and the
    monthly values, prefixed `monthly_`), elevation, human footprint, land cover, SoilGrids, and the mean of each
    Landsat band's quarterly series (GLC23 `;`/`timeSerieID`/`eos` or GLC24 `,`/`surveyId` CSVs). A missing value
    (a survey absent from a file, `eos`, an empty cell) stays missing: each model imputes it with medians of its
    own fitting subset, so no statistic is computed over the hold-out. The families found are in the metadata."""
    env, found = read_env_families(lake, _relpaths(geoplant_raw_files), geoplant_pa_surveys)
    if not found["families_present"]:
        context.log.warning(
            "geoplant: no environmental CSV (GLC24-PA-<split>-<family>.csv) among the raw files; models use the "
            "survey location only"
        )
    predictors = [c for c in env.columns if c not in ("surveyId", "split")]
    missing = int(sum(env[c].null_count() for c in predictors))
    report = python_report("geoplant_env_features", [checks.env_finite(env)], env.height)
    return Table(
        env,
        report,
        preview=False,
        metadata={
            "predictors": len(predictors),
            "families_present": ", ".join(found["families_present"]) or "none",
            "families_absent": ", ".join(found["families_absent"]) or "none",
            "missing_cells_left_for_model_imputation": missing,
            "files": dg.MetadataValue.json(found["files"]),
            "landsat_forms": dg.MetadataValue.json(found["landsat_forms"]),
            "unread_duplicates": dg.MetadataValue.json(found["unread_duplicates"]),
        },
    )


# --- Sentinel-2 patches -------------------------------------------------------------------------------------


def _patch_roots(rels: list[str], split: str, kind: str) -> str | None:
    """Folder holding `<id[-2:]>/<id[-4:-2]>/<id>.jpeg` for a split and band, single or double nested."""
    marker = f"pa_{split}_patches_{kind}"
    outer = f"PA_{split.title()}_SatellitePatches_{kind.upper()}"
    roots = Counter(
        "/".join(r.split("/")[:-3])
        for r in rels
        if r.endswith(".jpeg") and (f"/{marker}/" in f"/{r}" or f"{outer}/" in r)
    )
    return roots.most_common(1)[0][0] if roots else None


@table_asset(
    "geoplant_patches",
    dataset=DATASET,
    check="geoplant_patches_complete",
    blocking=False,
    kinds={"numpy", "parquet"},
    op_tags=resource_hints(cpu="1", memory="4Gi"),  # Kubernetes requests/limits under dagster-k8s
    check_description="Every PA survey has an RGB and a NIR patch; the missing ones are listed (not blocking: "
    "the tabular models do not read patches).",
)
def geoplant_patches(
    context: dg.AssetExecutionContext,
    lake: Lake,
    geoplant_raw_files: pl.DataFrame,
    geoplant_pa_surveys: pl.DataFrame,
):
    """Sentinel-2 patch tensors of the PA surveys: RGB and NIR JPEGs read separately and stacked to uint8
    (4, 128, 128) = (R, G, B, NIR), saved as `.npy` shards of 1,000 surveys under `arrays/geoplant_patches/<split>/`.
    The table indexes them (surveyId, split, shard, offset) with per-channel means and the mean NDVI. An
    unreadable JPEG stops the step with the file, survey and rule."""
    rels = set(_relpaths(geoplant_raw_files))
    index, missing = [], []
    for split in source.SPLITS:
        ids = geoplant_pa_surveys.filter(pl.col("split") == split)["surveyId"].to_list()
        roots = {kind: _patch_roots(list(rels), split, kind) for kind in ("rgb", "nir")}
        present = []
        for sid in ids:
            paths = {k: source.construct_patch_path(r, sid) if r else None for k, r in roots.items()}
            lost = [k for k, p in paths.items() if p is None or p not in rels]
            if lost:
                missing.append({"split": split, "surveyId": sid, "missing": "+".join(lost)})
            else:
                present.append(sid)
        old = set(lake.glob(f"{PATCH_ARRAYS}/{split}/*.npy"))
        for shard, start in enumerate(range(0, len(present), PATCH_SHARD)):
            chunk = present[start : start + PATCH_SHARD]
            arr = np.stack(
                [
                    source.read_patch(lake.fs, _raw(lake, roots["rgb"]), _raw(lake, roots["nir"]), s)
                    for s in chunk
                ]
            )
            rel = f"{PATCH_ARRAYS}/{split}/shard-{shard:05d}.npy"
            with lake.atomic_open(rel, "wb") as fh:
                np.save(fh, arr)
            old.discard(lake.path(rel))
            means = arr.reshape(len(chunk), 4, -1).mean(axis=2)
            red, nir = arr[:, 0].astype(np.float32), arr[:, 3].astype(np.float32)
            ndvi = ((nir - red) / np.maximum(nir + red, 1.0)).reshape(len(chunk), -1).mean(axis=1)
            index.append(
                pl.DataFrame(
                    {
                        "surveyId": chunk,
                        "split": split,
                        "shard": rel,
                        "offset": np.arange(len(chunk)),
                        "mean_red": means[:, 0],
                        "mean_green": means[:, 1],
                        "mean_blue": means[:, 2],
                        "mean_nir": means[:, 3],
                        "mean_ndvi": ndvi,
                    },
                    schema_overrides={"surveyId": pl.Int64, "offset": pl.Int32},
                )
            )
        for stale in old:
            lake.fs.rm(stale)
    df = pl.concat(index) if index else pl.DataFrame(schema={"surveyId": pl.Int64, "split": pl.String})
    report = python_report(
        "geoplant_patches",
        [checks.every_survey_has_patch(geoplant_pa_surveys, missing)],
        geoplant_pa_surveys.height,
    )
    meta = {
        "tensor_shape": "(4, 128, 128) uint8: R, G, B, NIR",
        "surveys_without_patch": len(missing),
        "arrays": dg.MetadataValue.path(lake.url(PATCH_ARRAYS)),
    }
    return Table(df, report, meta)
