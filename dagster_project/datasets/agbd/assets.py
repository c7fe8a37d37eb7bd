"""AGBD ingestion: raw release files -> tile index -> per-tile patch table -> per-tile footprint table.

The patch and footprint tables are partitioned by Sentinel-2 tile (dynamic partitions ``agbd_tiles``); each
partition reads only its tile's groups / rows, a block of footprints at a time (`layout.BLOCK`), and streams them to
parquet, so memory depends on the block size, neither on the number of tiles nor on the size of the largest tile.
"""

from collections.abc import Iterable, Iterator

import dagster as dg
import polars as pl

from dagster_project import settings
from dagster_project.datasets.agbd import checks, layout, remote, source, transforms
from dagster_project.ingest import RawSource, SourceConfig, Table, raw_files_asset, table_asset
from dagster_project.raw import raw_relpath
from dagster_project.resource_hints import resource_hints
from dagster_project.storage import Lake
from dagster_project.validation import combine, python_report, validate_frame

DATASET = "agbd"
PARTITIONS = dg.DynamicPartitionsDefinition(name="agbd_tiles")  # one per Sentinel-2 tile


def _env_files() -> list[str]:
    return settings.source_files("agbd")


def discover_partitions(location: str) -> list[str]:
    """Partition keys: the Sentinel-2 tiles found at the source (HDF5 group names, or HF rows' MGRS tiles)."""
    return remote.discover_tiles(location, _env_files() or None)


class AgbdSourceConfig(SourceConfig):
    """Where to read AGBD from. Empty `location` means `CDP_AGBD_SOURCE`, else the HDF5 sample in `assets/agbd`
    (`assets/agbd/hf` is the same sample in the Hugging Face layout). Real data: the HF resolve URL
    `https://huggingface.co/datasets/prs-eth/AGBD_raw/resolve/main` (shards and sha256 from the Hub API) or the
    HDF5 release share `https://libdrive.ethz.ch/index.php/s/VPio6i5UlXTgir0/download`. `files` restricts the
    download to some files (also `CDP_AGBD_FILES`, comma-separated)."""

    files: list[str] = []


def _raw_root(lake: Lake) -> str:
    return lake.path(raw_relpath(DATASET))


def _ingest(src: RawSource) -> pl.DataFrame:
    files = list(src.config.files) or _env_files() or None
    headers = src.credentials.hf_headers() if remote.is_hf_location(src.location) else {}
    found = remote.remote_files(src.location, files, headers=headers)
    src.log.info(f"AGBD {found.fmt} release: {len(found.relpaths)} files")
    manifest = src.copy(found.relpaths, sha256=found.sha256 or None, headers=headers, url_for=found.url_for)
    # the manifest also remembers files of earlier sources; this run's release is exactly `found.relpaths`
    return manifest.filter(pl.col("relpath").is_in(found.relpaths)).with_columns(
        release_format=pl.lit(found.fmt)
    )


agbd_raw_files = raw_files_asset(
    DATASET,
    kinds={"python", "hdf5", "parquet"},
    config=AgbdSourceConfig,
    ingest=_ingest,
    metadata=lambda m: {"release_format": m["release_format"][0] if m.height else ""},
    description="AGBD release files copied byte for byte into `raw/agbd/` (HDF5 tiles + split/statistics "
    "pickles, or HF parquet shards), with their manifest: size, sha256 (verified against the Hub's published "
    "sha256 for HF downloads), source URL and retrieval time. Downloads resume after an interruption; unchanged "
    "files are not copied again. `release_format` says which release was found.",
)


@table_asset(
    "agbd_tile_index",
    dataset=DATASET,
    check="agbd_split_coverage",
    check_description="Every Sentinel-2 tile of the source is in exactly one official split (train/val/test); "
    "HF rows take their shard's split, and MGRS squares holding rows of several HF splits (overlapping "
    "Sentinel-2 tiles) are reported in the metadata (`mixed_split_tiles`), not failed.",
)
def agbd_tile_index(context: dg.AssetExecutionContext, lake: Lake, agbd_raw_files: pl.DataFrame):
    """Which file holds which Sentinel-2 tile: one row per (tile, file) with the number of footprints and the
    official split naming the tile (`biomes_splits_to_name.pkl` for the HDF5 release; for HF, where a row's tile
    is the MGRS square of its lat/lon, the split of the shard the rows came from). Sentinel-2 tiles overlap, so an
    MGRS square can hold HF rows of several splits: each row keeps its own, and such squares are listed in
    `mixed_split_tiles`. Every tile is a partition of `agbd_patches`."""
    files = agbd_raw_files["relpath"].to_list()
    index = source.tile_index(lake.fs, _raw_root(lake), files)
    report = python_report("agbd_tile_index", [checks.split_coverage_rule(index)], index.height)
    tiles = index["tile"].unique().sort().to_list()
    mix = source.split_mix(index)
    context.log.info(f"agbd: {len(tiles)} tiles, {int(index['n_footprints'].sum())} footprints")
    if mix.height:
        context.log.info(
            f"agbd: {mix.height} tiles hold footprints of several splits: {mix['tile'].to_list()}"
        )
    return Table(
        index,
        report,
        metadata={
            "tiles": len(tiles),
            "footprints": int(index["n_footprints"].sum()),
            "release_format": index["source_format"][0] if index.height else "",
            "mixed_split_tiles": mix.height,
            "mixed_split_footprints": dg.MetadataValue.json(
                {r.pop("tile"): {k: v for k, v in r.items() if v} for r in mix.to_dicts()}
            ),
        },
    )


def patch_table_relpath(tile: str) -> str:
    """Where `agbd_patches` streams a tile's table (the layout of the IO manager, which `agbd_footprints` reads)."""
    return f"tables/agbd_patches/{tile}/data.parquet"


def write_patch_table(lake: Lake, relpath: str, blocks: Iterable[pl.DataFrame]) -> checks.PatchSummary:
    """Stream a tile's patch table (`source.iter_tile` blocks) into one parquet file, a row group per block,
    written atomically, summarising each block for the plain-Python rules on the way: memory holds a block or two
    of patch arrays, never the tile. Returns the tile's summary (its scalar columns and per-band statistics)."""
    summaries: list[checks.PatchSummary] = []

    def summarised() -> Iterator[pl.DataFrame]:
        for block in blocks:
            summaries.append(checks.PatchSummary.of(block))
            yield block

    lake.write_parquet_stream(
        relpath,
        summarised(),
        schema=layout.empty_patch_frame().to_arrow().schema,
        # dictionaries and min/max statistics are useless on float patch arrays and cost as much as compressing
        # them: kept for the scalar columns only
        use_dictionary=SCALAR_COLUMNS,
        write_statistics=SCALAR_COLUMNS,
    )
    return checks.PatchSummary.concat(summaries)


SCALAR_COLUMNS = [c for c, t in layout.PATCH_SCHEMA.items() if not isinstance(t, pl.Array)]


@table_asset(
    "agbd_patches",
    dataset=DATASET,
    op_tags=resource_hints(cpu="1", memory="4Gi"),  # Kubernetes requests/limits under dagster-k8s
    partitions_def=PARTITIONS,
    check_description="Per tile: HDF5 band `order` attrs as released, every band within its plausible range, "
    f"nodata fraction per band <= {checks.MAX_NODATA_FRACTION}, lat/lon inside the tile's UTM zone band, "
    "agbd >= 0, agbd_se >= 0, tile in the official split. Failures name tile, file and footprint index.",
)
def agbd_patches(context: dg.AssetExecutionContext, lake: Lake, agbd_tile_index: pl.DataFrame):
    """One row per GEDI footprint of one Sentinel-2 tile (from every year's file that holds the tile), with
    the authors' transforms applied: Sentinel-2 surface reflectance `(DN - boa_offset*1000)/10000`, ALOS
    PALSAR-2 gamma-naught in dB, canopy height and its std, land-cover class and probability, DEM, all as
    25x25 patch arrays in [C][H][W] order (parquet fixed-size lists, nodata = NaN), plus the GEDI L4A target
    (`agbd`, `agbd_se`), lat/lon (reconstructed from offset + decimal) and dates. Read, checked and written a
    block of footprints at a time, so a tile never sits in memory whole."""
    tile = context.partition_key
    tile_source = source.tile_sources(agbd_tile_index, tile)
    rel = patch_table_relpath(tile)
    summary = write_patch_table(lake, rel, source.iter_tile(lake.fs, _raw_root(lake), tile, tile_source))
    df = summary.scalars
    suite = f"agbd_patches_{tile}"
    gx = validate_frame(df, suite=suite, rules=checks.patch_gx_rules(), id_columns=checks.ID_COLUMNS)
    report = combine(suite, python_report(suite, checks.patch_python_rules(summary), df.height), gx)
    return Table(  # the table is already written (streamed above): the IO manager stores nothing
        None,
        report,
        describe=df,
        metadata={
            "path": dg.MetadataValue.path(lake.url(rel)),
            "tile": tile,
            "release_format": tile_source.fmt,
            "files": dg.MetadataValue.json([f for f, _, _ in tile_source.files]),
            "split": dg.MetadataValue.text(",".join(sorted({str(s) for s in df["split"].unique()}))),
            "footprints_per_split": dg.MetadataValue.json(
                dict(df.group_by("split").len().sort("split").iter_rows()) if df.height else {}
            ),
        },
    )


@table_asset(
    "agbd_footprints",
    dataset=DATASET,
    partitions_def=PARTITIONS,
    deps=[dg.AssetKey("agbd_patches")],
    check_description="GX: unique (file, footprint index), land-cover codes from Copernicus GLC, nodata "
    "fractions and cos/sin encodings within [0, 1].",
)
def agbd_footprints(context: dg.AssetExecutionContext, lake: Lake):
    """The tabular view of `agbd_patches` that dbt and the model read: per footprint the centre-pixel value and
    the patch mean of every band, gamma-naught HH/HV, canopy height, land cover, DEM with slope/aspect at the
    centre, the authors' lat/lon and day-of-year cos/sin encodings, nodata fractions, and the GEDI attributes.
    The patch table is read a row group (block of footprints) at a time."""
    df = transforms.footprints_from_patch_file(lake.fs, lake.path(patch_table_relpath(context.partition_key)))
    suite = f"agbd_footprints_{context.partition_key}"
    report = validate_frame(df, suite=suite, rules=checks.footprint_gx_rules(), id_columns=checks.ID_COLUMNS)
    return Table(df, report, {"tile": context.partition_key}, preview=False)
