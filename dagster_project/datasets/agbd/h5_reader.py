"""Reader of the original AGBD HDF5 release: the split / statistics pickles (plain data only) and one tile group
of one ``data_subset-*.h5`` file -> patch table rows, with the group's layout checked first."""

from __future__ import annotations

import io
import pickle
import posixpath
from collections.abc import Iterator

import h5py
import numpy as np
import polars as pl

from dagster_project.errors import SourceFormatError

from . import geo
from .layout import (
    FORMAT_HDF5,
    GEDI_DTYPES,
    NODATA,
    OPTIONAL_DATASETS,
    PATCH_SIZE,
    SENTINEL_META_DTYPES,
    SPLITS,
    h5_layout,
    patch_frame,
)
from .transforms import alos_gamma0_db, masked_float, reconstruct_coordinate, s2_reflectance

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


def open_h5(fs, path: str, file: str) -> h5py.File:
    try:
        return h5py.File(fs.open(path, "rb"), "r")
    except (OSError, ValueError) as exc:
        raise SourceFormatError(file, "file is a readable HDF5 file", f"{type(exc).__name__}: {exc}") from exc


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


def _read(group: h5py.Group, name: str, file: str, tile: str, a: int | None = None, b: int | None = None):
    """Dataset ``name`` of the group, whole or footprints ``a:b``; read errors name file, tile and dataset."""
    try:
        return group[name][()] if a is None else group[name][a:b]
    except (OSError, ValueError, RuntimeError) as exc:
        raise SourceFormatError(
            file, "HDF5 dataset data is readable", f"tile {tile}: '{name}': {type(exc).__name__}: {exc}"
        ) from exc


def iter_h5_tile(
    fs, path: str, file: str, tile: str, split: str | None, block: int
) -> Iterator[pl.DataFrame]:
    """One tile group of one release file with the authors' transforms applied -> patch table rows, ``block``
    footprints at a time (every dataset is sliced to the block), so memory holds one block's raw and converted
    arrays whatever the tile's size. The group's layout is checked before the first block."""
    try:
        yield from _iter_h5_tile(fs, path, file, tile, split, block)
    except (OSError, RuntimeError, KeyError) as exc:  # corrupt object headers surface as these
        raise SourceFormatError(file, "file is a readable HDF5 file", f"tile {tile}: {exc}") from exc


def _iter_h5_tile(
    fs, path: str, file: str, tile: str, split: str | None, block: int
) -> Iterator[pl.DataFrame]:
    with open_h5(fs, path, file) as f:
        if tile not in f:
            raise SourceFormatError(file, "tile group is present", f"tile {tile}: no such group")
        g = f[tile]
        n = validate_h5_group(g, file, tile)
        has_boa = "S2_boa_offset" in g["Sentinel_metadata"]
        s2_order, alos_order = _attr_order(g["S2_bands"]), _attr_order(g["ALOS_bands"])
        for a in range(0, max(n, 1), block):
            b = min(n, a + block)
            yield _h5_block(g, file, tile, split, a, b, has_boa, s2_order, alos_order)


def _h5_block(
    g: h5py.Group,
    file: str,
    tile: str,
    split: str | None,
    a: int,
    b: int,
    has_boa: bool,
    s2_order: str,
    alos_order: str,
) -> pl.DataFrame:
    """Footprints ``a:b`` of a tile group -> patch table rows."""

    def read(name: str):
        return _read(g, name, file, tile, a, b)

    n = b - a
    meta = {k: read(f"Sentinel_metadata/{k}") for k in SENTINEL_META_DTYPES if k != "S2_boa_offset"}
    boa = read("Sentinel_metadata/S2_boa_offset") if has_boa else np.zeros(n, dtype=np.uint8)
    gedi = {k: read(f"GEDI/{k}") for k in GEDI_DTYPES}
    # in the order the datasets are stored, as every earlier reader did (a read error names the first bad one)
    s2 = s2_reflectance(read("S2_bands"), boa)
    scl = read("S2_SCL")
    alos = alos_gamma0_db(read("ALOS_bands"))
    ch = masked_float(read("CH/ch"), NODATA["CH"])
    ch_std = masked_float(read("CH/std"), NODATA["CH"])
    lc = read("LC")
    dem = masked_float(read("DEM"), NODATA["DEM"])
    lat_sign, lon_sign = geo.tile_centre_signs(np.full(n, tile))
    cols = {
        "tile": tile,
        "split": split,
        "source_format": FORMAT_HDF5,
        "source_file": file,
        "source_row": np.arange(a, b, dtype=np.int64),
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
    return patch_frame(cols, n)
