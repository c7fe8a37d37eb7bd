"""Reader of the Hugging Face ``prs-eth/AGBD_raw`` parquet shards: schema check, the MGRS tile of every row (from
the lat/lon leaves only), and the rows of one tile -> patch table rows, a block of rows at a time."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from dagster_project.errors import SourceFormatError

from . import geo
from .layout import (
    ALOS_BANDS,
    BLOCK,
    FORMAT_HF,
    HF_CH,
    HF_CHANNELS,
    HF_SCHEMA,
    NODATA,
    PATCH_SIZE,
    S2_BANDS,
    patch_frame,
)
from .transforms import masked_float

# ----------------------------------------------------------------------------------------------------
# Hugging Face parquet reader


def check_hf_schema(schema: pa.Schema, file: str) -> None:
    """Raise unless the shard has the AGBD_raw columns and types (extra schema metadata is fine)."""
    for field in HF_SCHEMA:
        if field.name not in schema.names:
            raise SourceFormatError(
                file, "parquet schema matches prs-eth/AGBD_raw", f"missing column '{field.name}'"
            )
        found = schema.field(field.name).type
        if not _same_type(found, field.type):
            raise SourceFormatError(
                file,
                "parquet schema matches prs-eth/AGBD_raw",
                f"column '{field.name}' is {found}, expected {field.type}",
            )


def _same_type(found: pa.DataType, expected: pa.DataType) -> bool:
    if pa.types.is_list(expected):
        is_list = (
            pa.types.is_list(found) or pa.types.is_large_list(found) or pa.types.is_fixed_size_list(found)
        )
        return is_list and _same_type(found.value_type, expected.value_type)
    if pa.types.is_struct(expected):
        if not pa.types.is_struct(found):
            return False
        got = {found.field(i).name: found.field(i).type for i in range(found.num_fields)}
        return all(f.name in got and _same_type(got[f.name], f.type) for f in expected)
    return found == expected


def _open_parquet(fs, path: str, file: str) -> pq.ParquetFile:
    try:
        pf = pq.ParquetFile(fs.open(path, "rb"))
    except (OSError, pa.ArrowException) as exc:
        raise SourceFormatError(
            file, "file is a readable parquet file", f"{type(exc).__name__}: {exc}"
        ) from exc
    check_hf_schema(pf.schema_arrow, file)
    return pf


def hf_row_group_tiles(fs, path: str, file: str) -> Iterator[np.ndarray]:
    """MGRS tile of every row, one array per row group (reads only the lat/lon leaves)."""
    pf = _open_parquet(fs, path, file)
    for rg in range(pf.num_row_groups):
        meta = pf.read_row_group(rg, columns=["metadata.lat", "metadata.lon"]).column("metadata")
        lat = pc.struct_field(meta, "lat").to_numpy(zero_copy_only=False)
        lon = pc.struct_field(meta, "lon").to_numpy(zero_copy_only=False)
        yield geo.mgrs_tile(lat, lon)


def _hf_input_array(col: pa.ChunkedArray, file: str, rows: np.ndarray) -> np.ndarray:
    """list<list<list<float32>>> -> (N, C, H, W) float32, checking every level has the release's length; a bad
    value names its row of the shard (``rows``: the shard row of each element)."""
    arr = col.combine_chunks()
    expected = (len(HF_CHANNELS), PATCH_SIZE, PATCH_SIZE)
    n = len(arr)
    for level, size in enumerate(expected):
        per_row = int(np.prod(expected[:level], dtype=np.int64))  # elements of this level per row
        if arr.null_count:
            bad = int(np.flatnonzero(arr.is_null().to_numpy(zero_copy_only=False))[0])
            raise SourceFormatError(
                file,
                "input is float32 [32][25][25]",
                f"null at nesting level {level}",
                row=int(rows[bad // per_row]),
            )
        lengths = pc.list_value_length(arr).to_numpy(zero_copy_only=False)
        bad = np.flatnonzero(lengths != size)
        if bad.size:
            raise SourceFormatError(
                file,
                "input is float32 [32][25][25]",
                f"level {level} has length {lengths[bad[0]]}, expected {size}",
                row=int(rows[int(bad[0]) // per_row]),
            )
        arr = arr.flatten()
    values = arr.to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
    return values.reshape(n, *expected)


def iter_hf_tile(
    fs,
    path: str,
    file: str,
    tile: str,
    split: str | None,
    row_groups: list[int] | None = None,
    block: int = BLOCK,
) -> Iterator[pl.DataFrame]:
    """Rows of one HF shard that fall in ``tile`` -> patch table rows, ``block`` rows at a time, in shard order.

    Only ``row_groups`` (from the tile index) are read when given, each in record batches of ``block`` rows
    (``ParquetFile.iter_batches``); the tile's rows of each batch are converted at once and gathered until a block
    is full, so memory holds one batch and one block whatever the shard's or the tile's size."""
    pf = _open_parquet(fs, path, file)
    md = pf.metadata
    starts = np.concatenate([[0], np.cumsum([md.row_group(i).num_rows for i in range(md.num_row_groups)])])
    parts: list[pl.DataFrame] = []
    count = 0
    for rg in range(pf.num_row_groups) if row_groups is None else sorted(row_groups):
        offset = int(starts[rg])
        for batch in pf.iter_batches(batch_size=block, row_groups=[rg], columns=list(HF_SCHEMA.names)):
            meta = batch.column("metadata")
            lat = pc.struct_field(meta, "lat").to_numpy(zero_copy_only=False)
            lon = pc.struct_field(meta, "lon").to_numpy(zero_copy_only=False)
            rows = np.flatnonzero(geo.mgrs_tile(lat, lon) == tile)
            if rows.size:
                # converted at once: a block gathers converted rows (~48 kB each), not raw `input` (~80 kB each)
                taken = pa.Table.from_batches([batch.take(pa.array(rows))])
                parts.append(_hf_rows_to_patches(taken, file, offset + rows, tile, split))
                count += rows.size
            offset += batch.num_rows
            del batch, meta
            while count >= block:
                # the parts stay separate chunks of one frame (no copy); the writer makes them one row group
                gathered = pl.concat(parts, rechunk=False)
                yield gathered.slice(0, block)
                rest = gathered.slice(block)
                parts, count = ([rest] if rest.height else []), rest.height
                del gathered, rest
    if count:
        yield pl.concat(parts, rechunk=False)


def _hf_rows_to_patches(
    table: pa.Table, file: str, rows: np.ndarray, tile: str, split: str | None
) -> pl.DataFrame:
    x = _hf_input_array(table.column("input"), file, rows)
    meta = table.column("metadata").combine_chunks()

    def m(name: str) -> np.ndarray:
        return pc.struct_field(meta, name).to_numpy(zero_copy_only=False)

    s2 = x[:, : len(S2_BANDS)].copy()
    s2[s2 <= 0] = np.nan
    alos = x[:, [HF_CH["alos_hh"], HF_CH["alos_hv"]]].copy()
    alos[alos == -9999] = np.nan
    cols = {
        "tile": tile,
        "split": split,
        "source_format": FORMAT_HF,
        "source_file": file,
        "source_row": rows.astype(np.int64),
        "lat": m("lat").astype(np.float64),
        "lon": m("lon").astype(np.float64),
        "agbd": table.column("label").to_numpy(),
        "agbd_se": m("agbd_se"),
        "gedi_num_days": m("gedi_num_days"),
        "s2_num_days": m("s2_num_days"),
        "elev_lowes": m("elev_lowes"),
        "rh98": m("rh98"),
        "sensitivity": m("sensitivity"),
        "solar_elev": m("solar_elev"),
        "leaf_off_f": m("leaf_off_f"),
        "pft_class": m("pft_class"),
        "region_cla": m("region_cla"),
        "urban_prop": m("urban_prop"),
        # the HF release fixes the channel order instead of carrying an attribute
        "s2_band_order": ",".join(S2_BANDS),
        "alos_band_order": ",".join(ALOS_BANDS),
        "s2_reflectance": s2,
        "alos_gamma0_db": alos,
        "canopy_height": masked_float(x[:, HF_CH["canopy_height"]], NODATA["CH"]),
        "canopy_height_std": masked_float(x[:, HF_CH["canopy_height_std"]], NODATA["CH"]),
        "land_cover": masked_float(x[:, HF_CH["land_cover"]], NODATA["LC"]),
        "land_cover_prob": masked_float(x[:, HF_CH["land_cover_probability"]], NODATA["LC"]),
        "dem": masked_float(x[:, HF_CH["dem"]], NODATA["DEM"]),
    }
    return patch_frame(cols, len(rows))
