"""The layouts of the two AGBD releases and of the platform's tables (constants and schemas only).

* the original HDF5 release (``data_subset-{year}-v4_{i}-20.h5``, one group per Sentinel-2 tile, as
  ``Patches/create_patches.py`` writes it) with its split and statistics pickles;
* the Hugging Face ``prs-eth/AGBD_raw`` parquet shards (``input`` float32 [32][25][25], ``label``, ``metadata``);
* the typed *patch table* (one row per GEDI footprint, patch arrays as fixed-size lists in [C][H][W] order, nodata
  NaN), the tabular *footprint table* built from it, and the *tile index*.
"""

from __future__ import annotations

import re

import numpy as np
import polars as pl
import pyarrow as pa

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

# The columns that identify a footprint and its origin, first in both the patch and the footprint table.
FOOTPRINT_ID_SCHEMA: dict[str, pl.DataType] = {
    "tile": pl.String(),
    "split": pl.String(),
    "source_format": pl.String(),
    "source_file": pl.String(),
    "source_row": pl.Int64(),
    "shot_number": pl.UInt64(),
    "lat": pl.Float64(),
    "lon": pl.Float64(),
}

_P = PATCH_SIZE
PATCH_SCHEMA: dict[str, pl.DataType] = {
    **FOOTPRINT_ID_SCHEMA,
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
# Footprints per block of the patch table (~48 kB each as float32 25x25 arrays: ~50 MB per block): a tile is read,
# checked and written a block (one parquet row group) at a time, so memory depends on this, not on the tile's size.
BLOCK = 1024
PATCH_ARRAYS = ("s2_reflectance", "alos_gamma0_db", "canopy_height", "canopy_height_std", "land_cover", "dem")


def patch_frame(cols: dict[str, object], n: int) -> pl.DataFrame:
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


TILE_INDEX_SCHEMA = {
    "tile": pl.String(),
    "source_file": pl.String(),
    "year": pl.Int32(),
    "n_footprints": pl.Int64(),
    "splits": pl.List(pl.String()),
    # HF: the shard's row groups holding the tile (a tile's rows are read from those only); HDF5: empty
    "row_groups": pl.List(pl.Int32()),
}


_F32 = pl.Float32()
FOOTPRINT_SCHEMA: dict[str, pl.DataType] = {
    **FOOTPRINT_ID_SCHEMA,
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
    **{k: _F32 for k in ("land_cover_prob", "dem", "dem_mean", "slope", "aspect_cos", "aspect_sin")},
    **{k: _F32 for k in ("s2_nodata_frac", "alos_nodata_frac", "ch_nodata_frac", "lc_nodata_frac")},
    "dem_nodata_frac": _F32,
}
