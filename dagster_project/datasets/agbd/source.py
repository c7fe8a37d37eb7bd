"""AGBD readers: the original HDF5 release and the Hugging Face ``prs-eth/AGBD_raw`` parquet shards.

Pure functions (no Dagster). Both formats are read tile by tile into the same typed *patch table* (one row per
GEDI footprint, patch arrays as fixed-size list columns in [C][H][W] order like the HF release), and the patch
table is summarised into a tabular *footprint table* (centre pixel + patch means) for dbt and the model.

Transforms follow the authors' loader (``ghjuliasialelli/AGBD`` ``Models/dataset.py``):

* Sentinel-2 surface reflectance = ``(DN - boa_offset * 1000) / 10000``; the loader clamps negatives to 0 and
  then treats 0 as nodata, so every reflectance <= 0 becomes NaN here;
* ALOS PALSAR-2 DN -> gamma-naught dB = ``10 * log10(DN**2) - 83``; DN 0 is nodata;
* canopy height / its std and land cover: 255 is nodata; DEM: -9999 is nodata;
* lat/lon = ``sign(decimal) * (offset + |decimal|)``, where a decimal of exactly 0 takes its sign from the tile's
  hemisphere / UTM zone instead (``np.sign(0) == 0`` would put the footprint on the equator or meridian);
* dates are days since the GEDI mission start 2019-04-17, encoded as day-of-year cos/sin scaled to [0, 1].

Nodata is NaN in every float array of the patch table.
"""

from __future__ import annotations

import io
import pickle
import posixpath
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import h5py
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from dagster_project.errors import SourceFormatError

from . import geo

# ----------------------------------------------------------------------------------------------------
# Layout of the two releases

FORMAT_HDF5 = "hdf5"
FORMAT_HF = "hf"

PATCH_SIZE = 25
CENTRE = PATCH_SIZE // 2
GEDI_START_MISSION = np.datetime64("2019-04-17", "D")

S2_BANDS = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12")
ALOS_BANDS = ("HH", "HV")
NODATA = {"S2_bands": 0, "ALOS_bands": 0, "CH": 255, "LC": 255, "DEM": -9999}

H5_NAME = re.compile(r"^data_subset-(?P<year>\d{4})-v4_(?P<chunk>\d+)-(?P<of>\d+)\.h5$")
SPLITS_FILE = "biomes_splits_to_name.pkl"
STATISTICS_FILE = "statistics_subset_2019-2020-v4_new.pkl"
SPLITS = ("train", "val", "test")

# GEDI L4A attributes as stored in the HDF5 (names truncated to 10 characters, as in shapefile fields).
GEDI_DTYPES: dict[str, np.dtype] = {
    name: np.dtype(dt)
    for name, dt in {
        "pft_class": "u1",
        "region_cla": "u1",
        "leaf_off_f": "u1",
        "urban_prop": "u1",
        "agbd": "f4",
        "agbd_se": "f4",
        "elev_lowes": "f4",
        "selected_a": "u1",
        "shot_numbe": "u8",
        "sensitivit": "f4",
        "solar_elev": "f4",
        "rh98": "f4",
        "date": "u2",
        "granule_num": "u1",
        "track_num": "u4",
        "ppds": "u1",
        "version_num": "u2",
        "lat_offset": "u1",
        "lat_decimal": "f4",
        "lon_offset": "u1",
        "lon_decimal": "f4",
    }.items()
}
SENTINEL_META_DTYPES: dict[str, np.dtype] = {
    "S2_vegetation_score": np.dtype("u1"),
    "S2_date": np.dtype("i2"),
    "S2_pbn": np.dtype("u2"),
    "S2_ron": np.dtype("u1"),
    "S2_boa_offset": np.dtype("u1"),
}
# The authors' loader falls back to offset 0 when a group has no S2_boa_offset (older patch files).
OPTIONAL_DATASETS = {"Sentinel_metadata/S2_boa_offset"}


def h5_layout(patch: int = PATCH_SIZE) -> dict[str, tuple[np.dtype, tuple]]:
    """Every dataset of a tile group -> (dtype, shape with ``None`` for the footprint axis)."""
    layout: dict[str, tuple[np.dtype, tuple]] = {
        "S2_bands": (np.dtype("u2"), (None, patch, patch, len(S2_BANDS))),
        "S2_SCL": (np.dtype("u1"), (None, patch, patch)),
        "ALOS_bands": (np.dtype("u2"), (None, patch, patch, len(ALOS_BANDS))),
        "CH/ch": (np.dtype("u1"), (None, patch, patch)),
        "CH/std": (np.dtype("u1"), (None, patch, patch)),
        "LC": (np.dtype("u1"), (None, patch, patch, 2)),
        "DEM": (np.dtype("i2"), (None, patch, patch)),
    }
    layout.update({f"Sentinel_metadata/{k}": (v, (None,)) for k, v in SENTINEL_META_DTYPES.items()})
    layout.update({f"GEDI/{k}": (v, (None,)) for k, v in GEDI_DTYPES.items()})
    return layout


# Hugging Face AGBD_raw: `input` channel order (third-party CHANNEL_NAMES, see the research notes), `label` and a
# `metadata` struct of 13 typed fields.
HF_CHANNELS = (
    *(f"s2_{b.lower()}" for b in S2_BANDS),
    "s2_num_days",
    "s2_doy_cos",
    "s2_doy_sin",
    "lat_cos",
    "lat_sin",
    "lon_cos",
    "lon_sin",
    "gedi_num_days",
    "gedi_doy_cos",
    "gedi_doy_sin",
    "alos_hh",
    "alos_hv",
    "canopy_height",
    "canopy_height_std",
    "land_cover",
    "land_cover_probability",
    "slope",
    "aspect_cos",
    "aspect_sin",
    "dem",
)
HF_CH = {name: i for i, name in enumerate(HF_CHANNELS)}
HF_METADATA = pa.struct(
    [
        ("s2_num_days", pa.int16()),
        ("gedi_num_days", pa.uint16()),
        ("lat", pa.float32()),
        ("lon", pa.float32()),
        ("agbd_se", pa.float32()),
        ("elev_lowes", pa.float32()),
        ("leaf_off_f", pa.uint8()),
        ("pft_class", pa.uint8()),
        ("region_cla", pa.uint8()),
        ("rh98", pa.float32()),
        ("sensitivity", pa.float32()),
        ("solar_elev", pa.float32()),
        ("urban_prop", pa.uint8()),
    ]
)
HF_SCHEMA = pa.schema(
    [
        ("input", pa.list_(pa.list_(pa.list_(pa.float32())))),
        ("label", pa.float32()),
        ("metadata", HF_METADATA),
    ]
)
HF_SHARD = re.compile(r"^data/(?P<split>train|validation|test)-[^/]*\.parquet$")
HF_SPLIT_NAMES = {"train": "train", "validation": "val", "test": "test"}

# Remote locations. The HDF5 release sits on an ETH libdrive share whose files are addressed by a query string;
# the HF release is addressed by "resolve" URLs, and its file list (with LFS sha256) comes from the Hub tree API.
HDF5_SHARE_URL = "https://libdrive.ethz.ch/index.php/s/VPio6i5UlXTgir0/download"
HF_REPO = "prs-eth/AGBD_raw"
HF_RESOLVE_URL = f"https://huggingface.co/datasets/{HF_REPO}/resolve/main"
HF_TREE_URL = f"https://huggingface.co/api/datasets/{HF_REPO}/tree/main/data"


def hdf5_release_files(years=(2019, 2020), chunks: int = 20) -> list[str]:
    """The file names of the full HDF5 release (``Models/download.sh``)."""
    names = [f"data_subset-{y}-v4_{i}-{chunks}.h5" for y in years for i in range(chunks)]
    return [*names, SPLITS_FILE, STATISTICS_FILE]


def hdf5_release_url(relpath: str, base: str = HDF5_SHARE_URL) -> str:
    """Download URL of one file of the HDF5 release (libdrive share: ``?path=/&files=<name>``)."""
    return f"{base}?path=%2F&files={relpath}"


def hf_resolve_url(relpath: str, base: str = HF_RESOLVE_URL) -> str:
    """Download URL of one file of ``prs-eth/AGBD_raw`` (e.g. ``data/train-00000-of-02126.parquet``)."""
    return f"{base.rstrip('/')}/{relpath}"


def hf_files_from_tree(tree: list[dict]) -> list[tuple[str, int, str | None]]:
    """(relpath, size, sha256) of each parquet shard in a Hub tree listing (LFS files carry their sha256)."""
    out = []
    for entry in tree:
        path = entry.get("path", "")
        if entry.get("type") == "file" and HF_SHARD.match(path):
            lfs = entry.get("lfs") or {}
            out.append((path, int(lfs.get("size", entry.get("size", 0))), lfs.get("oid")))
    return sorted(out)


# REF_BIOMES of the authors' loader: Copernicus land-cover codes -> biome names.
REF_BIOMES = {
    20: "Shrubs",
    30: "Herbaceous vegetation",
    40: "Cultivated",
    90: "Herbaceous wetland",
    111: "Closed-ENL",
    112: "Closed-EBL",
    114: "Closed-DBL",
    115: "Closed-mixed",
    116: "Closed-other",
    121: "Open-ENL",
    122: "Open-EBL",
    124: "Open-DBL",
    125: "Open-mixed",
    126: "Open-other",
}

# ----------------------------------------------------------------------------------------------------
# The typed patch table

_P = PATCH_SIZE
PATCH_SCHEMA: dict[str, pl.DataType] = {
    "tile": pl.String(),
    "split": pl.String(),
    "source_format": pl.String(),
    "source_file": pl.String(),
    "source_row": pl.Int64(),
    "shot_number": pl.UInt64(),
    "lat": pl.Float64(),
    "lon": pl.Float64(),
    "agbd": pl.Float32(),
    "agbd_se": pl.Float32(),
    "gedi_num_days": pl.UInt16(),
    "s2_num_days": pl.Int16(),
    "elev_lowes": pl.Float32(),
    "rh98": pl.Float32(),
    "sensitivity": pl.Float32(),
    "solar_elev": pl.Float32(),
    "leaf_off_f": pl.UInt8(),
    "pft_class": pl.UInt8(),
    "region_cla": pl.UInt8(),
    "urban_prop": pl.UInt8(),
    "s2_boa_offset": pl.UInt8(),
    "s2_vegetation_score": pl.UInt8(),
    "s2_band_order": pl.String(),
    "alos_band_order": pl.String(),
    "s2_reflectance": pl.Array(pl.Float32, (len(S2_BANDS), _P, _P)),
    "s2_scl": pl.Array(pl.UInt8, (_P, _P)),
    "alos_gamma0_db": pl.Array(pl.Float32, (len(ALOS_BANDS), _P, _P)),
    "canopy_height": pl.Array(pl.Float32, (_P, _P)),
    "canopy_height_std": pl.Array(pl.Float32, (_P, _P)),
    "land_cover": pl.Array(pl.Float32, (_P, _P)),
    "land_cover_prob": pl.Array(pl.Float32, (_P, _P)),
    "dem": pl.Array(pl.Float32, (_P, _P)),
}
PATCH_ARRAYS = ("s2_reflectance", "alos_gamma0_db", "canopy_height", "canopy_height_std", "land_cover", "dem")


def _patch_frame(cols: dict[str, object], n: int) -> pl.DataFrame:
    """Assemble the patch table in schema order; absent columns become typed nulls."""
    series = []
    for name, dtype in PATCH_SCHEMA.items():
        value = cols.get(name)
        if value is None:
            series.append(pl.Series(name, [None] * n, dtype=dtype))
        elif isinstance(value, str):
            series.append(pl.Series(name, [value] * n, dtype=dtype))
        else:
            series.append(pl.Series(name, value).cast(dtype))
    return pl.DataFrame(series)


def empty_patch_frame() -> pl.DataFrame:
    return pl.DataFrame(schema=PATCH_SCHEMA)


# ----------------------------------------------------------------------------------------------------
# Transforms (vectorised over footprints)


def s2_reflectance(dn: np.ndarray, boa_offset: np.ndarray) -> np.ndarray:
    """(N,P,P,12) uint16 DN -> (N,12,P,P) float32 surface reflectance; nodata (DN 0, or <= 0 after offset) NaN."""
    off = np.asarray(boa_offset, dtype=np.float32).reshape(-1, 1, 1, 1) * 1000.0
    refl = (dn.astype(np.float32) - off) / 10000.0
    refl[(dn == NODATA["S2_bands"]) | (refl <= 0)] = np.nan
    return np.ascontiguousarray(np.moveaxis(refl, -1, 1))


def alos_gamma0_db(dn: np.ndarray) -> np.ndarray:
    """(N,P,P,2) uint16 DN -> (N,2,P,P) float32 gamma-naught in dB; DN 0 (nodata) -> NaN."""
    with np.errstate(divide="ignore"):
        db = 10.0 * np.log10(np.square(dn.astype(np.float32))) - 83.0
    db[dn == NODATA["ALOS_bands"]] = np.nan
    return np.ascontiguousarray(np.moveaxis(db, -1, 1))


def masked_float(values: np.ndarray, nodata: float) -> np.ndarray:
    """Integer raster -> float32 with its nodata value as NaN."""
    out = values.astype(np.float32)
    out[values == nodata] = np.nan
    return out


def reconstruct_coordinate(offset: np.ndarray, decimal: np.ndarray, fallback_sign: np.ndarray) -> np.ndarray:
    """Coordinate from the release's split storage: uint8 ``offset`` = |integer part|, float32 ``decimal``.

    ``sign(decimal) * (offset + |decimal|)`` loses the sign when the fractional part is exactly 0 (``np.sign(0)``
    is 0: the footprint lands on 0 degrees); those take ``fallback_sign`` (the tile's hemisphere / zone side).
    """
    decimal = np.asarray(decimal, dtype=np.float64)
    sign = np.where(decimal == 0, fallback_sign, np.sign(decimal))
    return sign * (np.asarray(offset, dtype=np.float64) + np.abs(decimal))


def doy_encoding(num_days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Days since 2019-04-17 -> day-of-year (cos, sin), each scaled to [0, 1] as in the authors' ``get_doy``."""
    dates = GEDI_START_MISSION + np.asarray(num_days, dtype=np.int64).astype("timedelta64[D]")
    doy = (dates - dates.astype("datetime64[Y]").astype("datetime64[D]")).astype(np.int64) + 1
    angle = 2 * np.pi * doy / 365
    return (np.cos(angle) + 1) / 2, (np.sin(angle) + 1) / 2


def latlon_encoding(lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, ...]:
    """(lat_cos, lat_sin, lon_cos, lon_sin) in [0, 1], the authors' ``encode_lat_lon`` wrap encoding."""
    lat, lon = np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64)
    return (
        (np.cos(np.pi * lat / 90) + 1) / 2,
        (np.sin(np.pi * lat / 90) + 1) / 2,
        (np.cos(np.pi * lon / 180) + 1) / 2,
        (np.sin(np.pi * lon / 180) + 1) / 2,
    )


def slope_aspect(dem: np.ndarray, resolution: float = 10.0) -> tuple[np.ndarray, np.ndarray]:
    """Slope (degrees) and aspect (radians, clockwise from north, downslope) of (..., H, W) DEM patches.

    ``np.gradient(dem, 10)`` as the authors do; rows run north to south on the S2 grid.
    """
    d_row, d_col = np.gradient(dem.astype(np.float64), resolution, axis=(-2, -1))
    slope = np.degrees(np.arctan(np.hypot(d_row, d_col)))
    # downslope direction: east component -d_col, north component +d_row (row index grows southwards)
    aspect = np.mod(np.arctan2(-d_col, d_row), 2 * np.pi)
    return slope, aspect


# ----------------------------------------------------------------------------------------------------
# Safe pickles


class _PlainDataUnpickler(pickle.Unpickler):
    """Unpickles only plain data (dicts, lists, numbers, strings, numpy arrays/scalars): pickles from a remote
    host must not be able to run code."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("collections", "OrderedDict"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def load_plain_pickle(data: bytes, file: str) -> object:
    try:
        return _PlainDataUnpickler(io.BytesIO(data)).load()
    except Exception as exc:  # any unpickling failure is a format error of this file
        raise SourceFormatError(file, "pickle holds only plain data", f"{type(exc).__name__}: {exc}") from exc


def read_splits(fs, path: str, file: str | None = None) -> dict[str, list[str]]:
    """``biomes_splits_to_name.pkl``: split name (train/val/test) -> list of Sentinel-2 tile names."""
    file = file or posixpath.basename(path)
    with fs.open(path, "rb") as fh:
        obj = load_plain_pickle(fh.read(), file)
    if not isinstance(obj, dict) or set(obj) != set(SPLITS):
        keys = sorted(map(str, obj)) if isinstance(obj, dict) else type(obj).__name__
        raise SourceFormatError(
            file, "split pickle maps exactly train/val/test to tile lists", f"found {keys}"
        )
    return {k: [str(t) for t in obj[k]] for k in SPLITS}


def read_statistics(fs, path: str, file: str | None = None) -> dict:
    """``statistics_subset_2019-2020-v4_new.pkl``: per-source normalisation statistics (mean/std/p1/p99/...)."""
    file = file or posixpath.basename(path)
    with fs.open(path, "rb") as fh:
        obj = load_plain_pickle(fh.read(), file)
    if not isinstance(obj, dict) or "S2_bands" not in obj or "GEDI" not in obj:
        raise SourceFormatError(file, "statistics pickle has S2_bands and GEDI entries")
    return obj


# ----------------------------------------------------------------------------------------------------
# Format detection and the tile index


def _rel(fs, root: str, path: str) -> str:
    root = fs._strip_protocol(root).rstrip("/")
    path = fs._strip_protocol(path)
    return path[len(root) + 1 :] if path.startswith(root + "/") else path


def detect_format(fs, root: str) -> str:
    """``hdf5`` when the folder holds ``data_subset-*.h5`` files, ``hf`` when it holds ``data/*.parquet``."""
    has_h5 = any(H5_NAME.match(posixpath.basename(p)) for p in fs.glob(f"{root.rstrip('/')}/*.h5"))
    has_hf = bool(fs.glob(f"{root.rstrip('/')}/data/*.parquet"))
    if has_h5 and has_hf:
        raise SourceFormatError(
            root, "source holds exactly one AGBD release", "found both .h5 and data/*.parquet"
        )
    if not (has_h5 or has_hf):
        raise SourceFormatError(
            root, "source holds exactly one AGBD release", "no data_subset-*.h5 and no data/*.parquet"
        )
    return FORMAT_HDF5 if has_h5 else FORMAT_HF


def source_files(fs, root: str) -> tuple[str, list[str]]:
    """(format, relpaths of every file of that release under ``root``), sorted."""
    fmt = detect_format(fs, root)
    root = root.rstrip("/")
    if fmt == FORMAT_HDF5:
        names = sorted(
            posixpath.basename(p) for p in fs.glob(f"{root}/*.h5") if H5_NAME.match(posixpath.basename(p))
        )
        for required in (SPLITS_FILE, STATISTICS_FILE):
            if not fs.exists(f"{root}/{required}"):
                raise SourceFormatError(
                    f"{root}/{required}", "HDF5 release ships its split and statistics pickles"
                )
        return fmt, [*names, SPLITS_FILE, STATISTICS_FILE]
    shards = sorted(_rel(fs, root, p) for p in fs.glob(f"{root}/data/*.parquet"))
    bad = [s for s in shards if not HF_SHARD.match(s)]
    if bad:
        raise SourceFormatError(bad[0], "HF shard is named data/{train,validation,test}-*.parquet")
    return fmt, shards


def _open_h5(fs, path: str, file: str) -> h5py.File:
    try:
        return h5py.File(fs.open(path, "rb"), "r")
    except (OSError, ValueError) as exc:
        raise SourceFormatError(file, "file is a readable HDF5 file", f"{type(exc).__name__}: {exc}") from exc


TILE_INDEX_SCHEMA = {
    "tile": pl.String(),
    "source_file": pl.String(),
    "year": pl.Int32(),
    "n_footprints": pl.Int64(),
    "splits": pl.List(pl.String()),
    # HF: the shard's row groups holding the tile (a tile's rows are read from those only); HDF5: empty
    "row_groups": pl.List(pl.Int32()),
}


def tile_index(fs, root: str, files: list[str] | None = None) -> pl.DataFrame:
    """One row per (tile, file): how many footprints the file holds for the tile and the split(s) naming it.

    HDF5: tile groups of every ``data_subset-*.h5`` and the splits of ``biomes_splits_to_name.pkl``. HF: the MGRS
    tile of each row's lat/lon, and the split in the shard's name. ``splits`` normally has exactly one entry; the
    split-coverage check flags tiles with none or several.
    """
    if files is None:
        fmt, files = source_files(fs, root)
    else:
        fmt = FORMAT_HF if any(HF_SHARD.match(f) for f in files) else FORMAT_HDF5
    root = root.rstrip("/")
    rows: list[tuple] = []
    if fmt == FORMAT_HDF5:
        splits = read_splits(fs, f"{root}/{SPLITS_FILE}", SPLITS_FILE)
        tile_splits: dict[str, list[str]] = {}
        for split, tiles in splits.items():
            for t in tiles:
                tile_splits.setdefault(t, []).append(split)
        for name in files:
            m = H5_NAME.match(name)
            if not m:
                continue
            with _open_h5(fs, f"{root}/{name}", name) as f:
                try:
                    tiles = sorted(f.keys())
                except (OSError, RuntimeError, ValueError) as exc:
                    raise SourceFormatError(name, "file is a readable HDF5 file", str(exc)) from exc
                for tile in tiles:
                    try:
                        n = int(f[tile]["GEDI"]["agbd"].shape[0])
                    except KeyError as exc:
                        raise SourceFormatError(
                            name, "tile group has every dataset", f"tile {tile}: missing 'GEDI/agbd'"
                        ) from exc
                    except (OSError, RuntimeError, ValueError) as exc:
                        raise SourceFormatError(
                            name, "file is a readable HDF5 file", f"tile {tile}: {exc}"
                        ) from exc
                    rows.append((tile, name, int(m["year"]), n, tile_splits.get(tile, []), []))
    else:
        for name in files:
            split = HF_SPLIT_NAMES[HF_SHARD.match(name)["split"]]
            counts: dict[str, int] = {}
            groups: dict[str, list[int]] = {}
            for rg, tiles in enumerate(_hf_row_group_tiles(fs, f"{root}/{name}", name)):
                u, c = np.unique(tiles, return_counts=True)
                for t, k in zip(u.tolist(), c.tolist(), strict=True):
                    counts[t] = counts.get(t, 0) + k
                    groups.setdefault(t, []).append(rg)
            rows.extend((t, name, None, k, [split], groups[t]) for t, k in sorted(counts.items()))
        # a tile whose footprints sit in shards of different splits is named by each of those splits
        by_tile: dict[str, set[str]] = {}
        for t, _, _, _, s, _ in rows:
            by_tile.setdefault(t, set()).update(s)
        rows = [(t, f, y, k, sorted(by_tile[t]), g) for t, f, y, k, _, g in rows]
    index = pl.DataFrame(rows, schema=TILE_INDEX_SCHEMA, orient="row")
    return index.with_columns(source_format=pl.lit(fmt, dtype=pl.String()))


def list_tiles(fs, root: str) -> list[str]:
    """The Sentinel-2 tile names present in the source (the dynamic partition keys)."""
    return sorted(tile_index(fs, root)["tile"].unique().to_list())


# ----------------------------------------------------------------------------------------------------
# HDF5 tile reader


def _attr_order(dset: h5py.Dataset) -> str:
    raw = dset.attrs.get("order")
    if raw is None:
        return ""
    return ",".join(x.decode() if isinstance(x, bytes) else str(x) for x in np.atleast_1d(raw))


def validate_h5_group(group: h5py.Group, file: str, tile: str) -> int:
    """Check a tile group's datasets (presence, dtype, footprint count and patch shape); return N footprints."""
    layout = h5_layout(patch=None)
    ref_name, ref_n, ref_patch = None, None, None
    for name, (dtype, shape) in layout.items():
        obj = group.get(name)
        if obj is None:
            if name in OPTIONAL_DATASETS:
                continue
            raise SourceFormatError(file, "tile group has every dataset", f"tile {tile}: missing '{name}'")
        if not isinstance(obj, h5py.Dataset):
            raise SourceFormatError(
                file, "tile group has every dataset", f"tile {tile}: '{name}' is not a dataset"
            )
        if obj.dtype != dtype:
            raise SourceFormatError(
                file, f"dataset has dtype {dtype.name}", f"tile {tile}: '{name}' is {obj.dtype.name}"
            )
        if len(obj.shape) != len(shape) or any(
            s is not None and o != s for o, s in zip(obj.shape[3:], shape[3:], strict=False)
        ):
            raise SourceFormatError(
                file,
                "dataset has the release's shape",
                f"tile {tile}: '{name}' has shape {obj.shape}, expected {_shape_text(shape)}",
            )
        if ref_n is None:
            ref_name, ref_n = name, obj.shape[0]
        elif obj.shape[0] != ref_n:
            raise SourceFormatError(
                file,
                "all sources of a tile have the same footprints",
                f"tile {tile}: '{name}' has {obj.shape[0]} footprints, '{ref_name}' has {ref_n}",
            )
        if len(shape) >= 3:
            patch = obj.shape[1:3]
            if ref_patch is None:
                ref_patch = (name, patch)
            elif patch != ref_patch[1] or patch[0] != patch[1]:
                raise SourceFormatError(
                    file,
                    "all sources of a tile share one square patch size",
                    f"tile {tile}: '{name}' patches are {patch}, '{ref_patch[0]}' patches are {ref_patch[1]}",
                )
    if ref_patch is not None and ref_patch[1] != (PATCH_SIZE, PATCH_SIZE):
        raise SourceFormatError(
            file, f"patches are {PATCH_SIZE}x{PATCH_SIZE}", f"tile {tile}: patches are {ref_patch[1]}"
        )
    return int(ref_n or 0)


def _shape_text(shape: tuple) -> str:
    return (
        "(" + ", ".join(("N" if i == 0 else "P") if s is None else str(s) for i, s in enumerate(shape)) + ")"
    )


def _read(group: h5py.Group, name: str, file: str, tile: str) -> np.ndarray:
    try:
        return group[name][()]
    except (OSError, ValueError, RuntimeError) as exc:
        raise SourceFormatError(
            file, "HDF5 dataset data is readable", f"tile {tile}: '{name}': {type(exc).__name__}: {exc}"
        ) from exc


def read_h5_tile(fs, path: str, file: str, tile: str, split: str | None) -> pl.DataFrame:
    """Read one tile group of one release file and apply the authors' transforms -> patch table rows."""
    try:
        return _read_h5_tile(fs, path, file, tile, split)
    except (OSError, RuntimeError, KeyError) as exc:  # corrupt object headers surface as these
        raise SourceFormatError(file, "file is a readable HDF5 file", f"tile {tile}: {exc}") from exc


def _read_h5_tile(fs, path: str, file: str, tile: str, split: str | None) -> pl.DataFrame:
    with _open_h5(fs, path, file) as f:
        if tile not in f:
            raise SourceFormatError(file, "tile group is present", f"tile {tile}: no such group")
        g = f[tile]
        n = validate_h5_group(g, file, tile)
        meta = {
            k: _read(g, f"Sentinel_metadata/{k}", file, tile)
            for k in SENTINEL_META_DTYPES
            if k != "S2_boa_offset"
        }
        boa = (
            _read(g, "Sentinel_metadata/S2_boa_offset", file, tile)
            if "S2_boa_offset" in g["Sentinel_metadata"]
            else np.zeros(n, dtype=np.uint8)
        )
        gedi = {k: _read(g, f"GEDI/{k}", file, tile) for k in GEDI_DTYPES}
        s2_order, alos_order = _attr_order(g["S2_bands"]), _attr_order(g["ALOS_bands"])
        s2 = s2_reflectance(_read(g, "S2_bands", file, tile), boa)
        scl = _read(g, "S2_SCL", file, tile)
        alos = alos_gamma0_db(_read(g, "ALOS_bands", file, tile))
        ch = masked_float(_read(g, "CH/ch", file, tile), NODATA["CH"])
        ch_std = masked_float(_read(g, "CH/std", file, tile), NODATA["CH"])
        lc = _read(g, "LC", file, tile)
        dem = masked_float(_read(g, "DEM", file, tile), NODATA["DEM"])
    lat_sign, lon_sign = geo.tile_centre_signs(np.full(n, tile))
    cols = {
        "tile": tile,
        "split": split,
        "source_format": FORMAT_HDF5,
        "source_file": file,
        "source_row": np.arange(n, dtype=np.int64),
        "shot_number": gedi["shot_numbe"],
        "lat": reconstruct_coordinate(gedi["lat_offset"], gedi["lat_decimal"], lat_sign),
        "lon": reconstruct_coordinate(gedi["lon_offset"], gedi["lon_decimal"], lon_sign),
        "agbd": gedi["agbd"],
        "agbd_se": gedi["agbd_se"],
        "gedi_num_days": gedi["date"],
        "s2_num_days": meta["S2_date"],
        "elev_lowes": gedi["elev_lowes"],
        "rh98": gedi["rh98"],
        "sensitivity": gedi["sensitivit"],
        "solar_elev": gedi["solar_elev"],
        "leaf_off_f": gedi["leaf_off_f"],
        "pft_class": gedi["pft_class"],
        "region_cla": gedi["region_cla"],
        "urban_prop": gedi["urban_prop"],
        "s2_boa_offset": boa,
        "s2_vegetation_score": meta["S2_vegetation_score"],
        "s2_band_order": s2_order,
        "alos_band_order": alos_order,
        "s2_reflectance": s2,
        "s2_scl": scl,
        "alos_gamma0_db": alos,
        "canopy_height": ch,
        "canopy_height_std": ch_std,
        "land_cover": masked_float(lc[..., 0], NODATA["LC"]),
        "land_cover_prob": masked_float(lc[..., 1], NODATA["LC"]),
        "dem": dem,
    }
    return _patch_frame(cols, n)


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


def _hf_row_group_tiles(fs, path: str, file: str) -> Iterator[np.ndarray]:
    """MGRS tile of every row, one array per row group (reads only the lat/lon leaves)."""
    pf = _open_parquet(fs, path, file)
    for rg in range(pf.num_row_groups):
        meta = pf.read_row_group(rg, columns=["metadata.lat", "metadata.lon"]).column("metadata")
        lat = pc.struct_field(meta, "lat").to_numpy(zero_copy_only=False)
        lon = pc.struct_field(meta, "lon").to_numpy(zero_copy_only=False)
        yield geo.mgrs_tile(lat, lon)


def _hf_input_array(col: pa.ChunkedArray, file: str, first_row: int) -> np.ndarray:
    """list<list<list<float32>>> -> (N, C, H, W) float32, checking every level has the release's length."""
    arr = col.combine_chunks()
    expected = (len(HF_CHANNELS), PATCH_SIZE, PATCH_SIZE)
    n = len(arr)
    for level, size in enumerate(expected):
        if arr.null_count:
            bad = int(np.flatnonzero(arr.is_null().to_numpy(zero_copy_only=False))[0])
            raise SourceFormatError(
                file, "input is float32 [32][25][25]", f"null at nesting level {level}", row=first_row + bad
            )
        lengths = pc.list_value_length(arr).to_numpy(zero_copy_only=False)
        bad = np.flatnonzero(lengths != size)
        if bad.size:
            row = first_row + int(bad[0]) // int(np.prod(expected[:level], dtype=np.int64))
            raise SourceFormatError(
                file,
                "input is float32 [32][25][25]",
                f"level {level} has length {lengths[bad[0]]}, expected {size}",
                row=row,
            )
        arr = arr.flatten()
    values = arr.to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
    return values.reshape(n, *expected)


def read_hf_tile(
    fs, path: str, file: str, tile: str, split: str | None, row_groups: list[int] | None = None
) -> pl.DataFrame:
    """Rows of one HF shard that fall in ``tile`` -> patch table rows, reading one row group at a time and only
    ``row_groups`` (from the tile index) when given."""
    pf = _open_parquet(fs, path, file)
    md = pf.metadata
    starts = np.concatenate([[0], np.cumsum([md.row_group(i).num_rows for i in range(md.num_row_groups)])])
    frames = []
    for rg in range(pf.num_row_groups) if row_groups is None else sorted(row_groups):
        meta = pf.read_row_group(rg, columns=["metadata.lat", "metadata.lon"]).column("metadata")
        lat = pc.struct_field(meta, "lat").to_numpy(zero_copy_only=False)
        lon = pc.struct_field(meta, "lon").to_numpy(zero_copy_only=False)
        rows = np.flatnonzero(geo.mgrs_tile(lat, lon) == tile)
        if rows.size:
            table = pf.read_row_group(rg).take(pa.array(rows))
            frames.append(_hf_rows_to_patches(table, file, int(starts[rg]) + rows, tile, split))
    return pl.concat(frames) if frames else empty_patch_frame()


def _hf_rows_to_patches(
    table: pa.Table, file: str, rows: np.ndarray, tile: str, split: str | None
) -> pl.DataFrame:
    x = _hf_input_array(table.column("input"), file, int(rows[0]))
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
    return _patch_frame(cols, len(rows))


# ----------------------------------------------------------------------------------------------------
# Tile -> patch table (both formats)


@dataclass(frozen=True)
class TileSource:
    """Where a tile's footprints live: the release format and the (file, split) pairs holding it."""

    fmt: str
    files: tuple[tuple[str, str | None, tuple[int, ...]], ...]  # (file, split, HF row groups)


def tile_sources(index: pl.DataFrame, tile: str) -> TileSource:
    rows = index.filter(pl.col("tile") == tile).sort("source_file")
    if rows.is_empty():
        raise SourceFormatError(tile, "tile is present in the source", "no file holds this tile")
    fmt = rows["source_format"][0]
    files = tuple(
        (f, s[0] if len(s) == 1 else None, tuple(g.to_list() if g is not None else ()))
        for f, s, g in zip(rows["source_file"], rows["splits"], rows["row_groups"], strict=True)
    )
    return TileSource(fmt, files)


def read_tile(fs, root: str, tile: str, source: TileSource) -> pl.DataFrame:
    """All footprints of one tile, from every file of the release that holds it, as the typed patch table."""
    root = root.rstrip("/")
    if source.fmt == FORMAT_HDF5:
        frames = [read_h5_tile(fs, f"{root}/{f}", f, tile, split) for f, split, _ in source.files]
    else:
        frames = [read_hf_tile(fs, f"{root}/{f}", f, tile, split, list(g)) for f, split, g in source.files]
    return pl.concat(frames) if frames else empty_patch_frame()


# ----------------------------------------------------------------------------------------------------
# Patch table -> footprint table


def _centre(a: np.ndarray) -> np.ndarray:
    return a[..., CENTRE, CENTRE]


def _patch_mean(a: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-nodata patch has no mean: NaN, as intended
        return np.nanmean(a, axis=(-2, -1))


def _nodata_fraction(a: np.ndarray) -> np.ndarray:
    return np.isnan(a).reshape(len(a), -1).mean(axis=1)


def footprints_from_patches(patches: pl.DataFrame) -> pl.DataFrame:
    """One row per footprint: identifiers, GEDI attributes, encodings, centre-pixel values and patch means."""
    n = patches.height
    if n == 0:
        return pl.DataFrame(schema=FOOTPRINT_SCHEMA)
    s2 = patches["s2_reflectance"].to_numpy()
    alos = patches["alos_gamma0_db"].to_numpy()
    ch = patches["canopy_height"].to_numpy()
    ch_std = patches["canopy_height_std"].to_numpy()
    lc = patches["land_cover"].to_numpy()
    lc_prob = patches["land_cover_prob"].to_numpy()
    dem = patches["dem"].to_numpy()
    lat, lon = patches["lat"].to_numpy(), patches["lon"].to_numpy()
    s2_days = patches["s2_num_days"].to_numpy()
    gedi_days = patches["gedi_num_days"].to_numpy()
    lat_cos, lat_sin, lon_cos, lon_sin = latlon_encoding(lat, lon)
    s2_doy_cos, s2_doy_sin = doy_encoding(s2_days)
    gedi_doy_cos, gedi_doy_sin = doy_encoding(gedi_days)
    c = CENTRE
    slope, aspect = slope_aspect(dem[:, c - 1 : c + 2, c - 1 : c + 2])
    s2_c, s2_m = _centre(s2), _patch_mean(s2)
    alos_c, alos_m = _centre(alos), _patch_mean(alos)
    lc_c = _centre(lc)
    cols: dict[str, object] = {
        name: patches[name]
        for name in (
            "tile",
            "split",
            "source_format",
            "source_file",
            "source_row",
            "shot_number",
            "lat",
            "lon",
            "agbd",
            "agbd_se",
            "rh98",
            "sensitivity",
            "solar_elev",
            "elev_lowes",
            "leaf_off_f",
            "pft_class",
            "region_cla",
            "urban_prop",
            "s2_num_days",
            "gedi_num_days",
        )
    }
    cols["s2_date"] = GEDI_START_MISSION + s2_days.astype(np.int64).astype("timedelta64[D]")
    cols["gedi_date"] = GEDI_START_MISSION + gedi_days.astype(np.int64).astype("timedelta64[D]")
    cols.update(
        lat_cos=lat_cos,
        lat_sin=lat_sin,
        lon_cos=lon_cos,
        lon_sin=lon_sin,
        s2_doy_cos=s2_doy_cos,
        s2_doy_sin=s2_doy_sin,
        gedi_doy_cos=gedi_doy_cos,
        gedi_doy_sin=gedi_doy_sin,
    )
    for i, band in enumerate(S2_BANDS):
        cols[f"s2_{band.lower()}"] = s2_c[:, i]
    for i, band in enumerate(S2_BANDS):
        cols[f"s2_{band.lower()}_mean"] = s2_m[:, i]
    cols.update(
        alos_hh_db=alos_c[:, 0],
        alos_hv_db=alos_c[:, 1],
        alos_hh_db_mean=alos_m[:, 0],
        alos_hv_db_mean=alos_m[:, 1],
        canopy_height=_centre(ch),
        canopy_height_mean=_patch_mean(ch),
        canopy_height_std=_centre(ch_std),
        land_cover=np.where(np.isnan(lc_c), -1, lc_c).astype(np.int32),
        land_cover_prob=_centre(lc_prob),
        dem=_centre(dem),
        dem_mean=_patch_mean(dem),
        slope_deg=slope[:, 1, 1],
        aspect_cos=np.cos(aspect[:, 1, 1]),
        aspect_sin=np.sin(aspect[:, 1, 1]),
        s2_nodata_frac=_nodata_fraction(s2),
        alos_nodata_frac=_nodata_fraction(alos),
        ch_nodata_frac=_nodata_fraction(ch),
        lc_nodata_frac=_nodata_fraction(lc),
        dem_nodata_frac=_nodata_fraction(dem),
    )
    df = pl.DataFrame({k: (v if isinstance(v, pl.Series) else pl.Series(k, v)) for k, v in cols.items()})
    # land cover -1 stands for "nodata at the centre": nullable integer column in the table
    df = df.with_columns(pl.when(pl.col("land_cover") >= 0).then(pl.col("land_cover")).alias("land_cover"))
    # nodata as null, not NaN: SQL engines treat NaN as a (large) value, and DuckDB's parquet scan can even
    # prune NaN rows from filters; null is missing everywhere
    return df.select([pl.col(k).cast(v) for k, v in FOOTPRINT_SCHEMA.items()]).with_columns(
        pl.col(pl.Float32, pl.Float64).fill_nan(None)
    )


_F32 = pl.Float32()
FOOTPRINT_SCHEMA: dict[str, pl.DataType] = {
    "tile": pl.String(),
    "split": pl.String(),
    "source_format": pl.String(),
    "source_file": pl.String(),
    "source_row": pl.Int64(),
    "shot_number": pl.UInt64(),
    "lat": pl.Float64(),
    "lon": pl.Float64(),
    "agbd": _F32,
    "agbd_se": _F32,
    "rh98": _F32,
    "sensitivity": _F32,
    "solar_elev": _F32,
    "elev_lowes": _F32,
    "leaf_off_f": pl.UInt8(),
    "pft_class": pl.UInt8(),
    "region_cla": pl.UInt8(),
    "urban_prop": pl.UInt8(),
    "s2_num_days": pl.Int16(),
    "gedi_num_days": pl.UInt16(),
    "s2_date": pl.Date(),
    "gedi_date": pl.Date(),
    **{k: _F32 for k in ("lat_cos", "lat_sin", "lon_cos", "lon_sin")},
    **{k: _F32 for k in ("s2_doy_cos", "s2_doy_sin", "gedi_doy_cos", "gedi_doy_sin")},
    **{f"s2_{b.lower()}": _F32 for b in S2_BANDS},
    **{f"s2_{b.lower()}_mean": _F32 for b in S2_BANDS},
    **{k: _F32 for k in ("alos_hh_db", "alos_hv_db", "alos_hh_db_mean", "alos_hv_db_mean")},
    **{k: _F32 for k in ("canopy_height", "canopy_height_mean", "canopy_height_std")},
    "land_cover": pl.Int32(),
    **{k: _F32 for k in ("land_cover_prob", "dem", "dem_mean", "slope_deg", "aspect_cos", "aspect_sin")},
    **{k: _F32 for k in ("s2_nodata_frac", "alos_nodata_frac", "ch_nodata_frac", "lc_nodata_frac")},
    "dem_nodata_frac": _F32,
}


# ----------------------------------------------------------------------------------------------------------
# Source locations: a folder / s3:// prefix (listed), or an HTTPS host (file list from the Hub API or config)


@dataclass(frozen=True)
class RemoteFiles:
    """What to fetch from a source location: release format, relative paths, published sha256, URL mapping."""

    fmt: str
    relpaths: list[str]
    sha256: dict[str, str]
    url_for: object | None = None  # Callable[[str], str] for HTTP sources


def is_http(location: str) -> bool:
    return location.startswith(("http://", "https://"))


def is_hf_location(location: str) -> bool:
    """An HF "resolve" base URL (``https://huggingface.co/datasets/<repo>/resolve/<revision>``)."""
    return "/resolve/" in location


def hf_tree_url(resolve_base: str) -> str:
    """Hub tree API URL listing ``data/`` of the repo a resolve base URL points at."""
    host, rest = resolve_base.rstrip("/").split("/datasets/", 1)
    repo, revision = rest.split("/resolve/", 1)
    return f"{host}/api/datasets/{repo}/tree/{revision}/data"


def hf_list_shards(resolve_base: str, headers: dict | None = None) -> list[tuple[str, int, str | None]]:
    """Parquet shards of an HF dataset repo with their LFS sha256, following the API's pagination links."""
    import requests

    url: str | None = hf_tree_url(resolve_base)
    entries: list[dict] = []
    while url:
        resp = requests.get(url, headers=headers or {}, timeout=60)
        resp.raise_for_status()
        entries.extend(resp.json())
        url = resp.links.get("next", {}).get("url")
    shards = hf_files_from_tree(entries)
    if not shards:
        raise SourceFormatError(
            hf_tree_url(resolve_base), "HF repo lists data/*.parquet shards", "none listed"
        )
    return shards


def remote_files(location: str, files: list[str] | None = None, headers: dict | None = None) -> RemoteFiles:
    """The files of the release at ``location``. Folders and s3:// prefixes are listed; an HF resolve URL is
    listed through the Hub API (with sha256); any other HTTPS host serves the HDF5 release, whose file names are
    ``files`` or the full release list (the ETH libdrive share addresses files by query string)."""
    if not is_http(location):
        fs, root = fsspec_for(location)
        fmt, rel = source_files(fs, root)
        if files:
            rel = [r for r in rel if r in set(files)]
        return RemoteFiles(fmt, rel, {})
    base = location.rstrip("/")
    if is_hf_location(base):
        shards = hf_list_shards(base, headers)
        chosen = [s for s in shards if not files or s[0] in set(files)]
        return RemoteFiles(
            FORMAT_HF,
            [s[0] for s in chosen],
            {s[0]: s[2] for s in chosen if s[2]},
            lambda rel, b=base: hf_resolve_url(rel, b),
        )
    names = list(files) if files else hdf5_release_files()
    if "libdrive" in base:
        return RemoteFiles(FORMAT_HDF5, names, {}, lambda rel, b=base: hdf5_release_url(rel, b))
    return RemoteFiles(FORMAT_HDF5, names, {}, lambda rel, b=base: f"{b}/{rel}")


def fsspec_for(location: str):
    import fsspec

    return fsspec.core.url_to_fs(location)


DISCOVERY_BLOCK_SIZE = 1 << 14


def discover_tiles(location: str, files: list[str] | None = None) -> list[str]:
    """Tile names in the source (the ``agbd_tiles`` partition keys). HTTP sources are read with range requests:
    only the HDF5 group names / the parquet lat/lon columns travel."""
    if not is_http(location):
        fs, root = fsspec_for(location)
        return list_tiles(fs, root)
    import fsspec

    rf = remote_files(location, files)
    # small blocks: only the HDF5 headers / parquet footers and lat/lon column chunks are fetched
    http = fsspec.filesystem("http", block_size=DISCOVERY_BLOCK_SIZE)
    tiles: set[str] = set()
    for rel in rf.relpaths:
        url = rf.url_for(rel)
        if rf.fmt == FORMAT_HF:
            for t in _hf_row_group_tiles(http, url, rel):
                tiles.update(t.tolist())
        elif H5_NAME.match(rel):
            with _open_h5(http, url, rel) as f:
                tiles.update(f.keys())
    return sorted(tiles)
