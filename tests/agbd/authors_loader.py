"""A port of the AGBD authors' HDF5 reading logic, used only as the oracle of the conformance tests.

Ported from ``ghjuliasialelli/AGBD`` ``Models/dataset.py`` (commit c6bc127d): ``initialize_index``,
``find_index_for_chunk`` (chunk size 1), ``GEDIDataset.__getitem__`` with every input switched on, ``get_doy``,
``encode_lat_lon`` / ``encode_coords``, ``get_topology`` and ``encode_lc``. Kept as close to the original as the port
allows (same operations, same order, same dtypes); two things are left out on purpose:

* normalisation (``normalize_data`` / ``normalize_bands``): a model-side step the platform's GBDT does not use;
  the values compared are the ones normalisation would be applied to;
* torch: each sample is returned as a dict of named channels (channels-last crops), not one stacked tensor.

Nothing here is imported by the platform.
"""

import pickle
from datetime import datetime, timedelta
from os.path import join

import h5py
import numpy as np

NODATAVALS = {"S2_bands": 0, "CH": 255, "ALOS_bands": 0, "DEM": -9999, "LC": 255}


def initialize_index(fnames, mode, chunk_size, path_mapping, path_h5):
    with open(join(path_mapping, "biomes_splits_to_name.pkl"), "rb") as f:
        tile_mapping = pickle.load(f)
    idx = {}
    for fname in fnames:
        idx[fname] = {}
        with h5py.File(join(path_h5, fname), "r") as f:
            all_tiles = list(f.keys())
            tiles = np.intersect1d(all_tiles, tile_mapping[mode])
            for tile in tiles:
                n_patches = len(f[tile]["GEDI"]["agbd"])
                idx[fname][tile] = n_patches // chunk_size
    total_length = sum(sum(v for v in d.values()) for d in idx.values())
    return idx, total_length


def find_index_for_chunk(index, n, total_length):
    assert n < total_length, "The chunk index is out of bounds"
    cumulative_sum = 0
    for file_name, file_data in index.items():
        for tile_name, num_rows in file_data.items():
            if cumulative_sum + num_rows > n:
                return file_name, tile_name, n - cumulative_sum
            cumulative_sum += num_rows


def encode_lat_lon(lat, lon):
    lat_cos, lat_sin = np.cos(np.pi * lat / 90), np.sin(np.pi * lat / 90)
    lon_cos, lon_sin = np.cos(np.pi * lon / 180), np.sin(np.pi * lon / 180)
    lat_cos, lat_sin = (lat_cos + 1) / 2, (lat_sin + 1) / 2
    lon_cos, lon_sin = (lon_cos + 1) / 2, (lon_sin + 1) / 2
    return lat_cos, lat_sin, lon_cos, lon_sin


def encode_coords(central_lat, central_lon, patch_size, resolution=10):
    i_indices, j_indices = np.indices(patch_size)
    offset_lat = (i_indices - patch_size[0] // 2) * resolution
    offset_lon = (j_indices - patch_size[1] // 2) * resolution
    latitudes = central_lat + (offset_lat / 6371000) * (180 / np.pi)
    longitudes = central_lon + (offset_lon / 6371000) * (180 / np.pi) / np.cos(latitudes * np.pi / 180)
    return encode_lat_lon(latitudes, longitudes)


def get_doy(num_days, patch_size, GEDI_START_MISSION="2019-04-17"):  # noqa: N803 (the authors' name)
    start_date = datetime.strptime(GEDI_START_MISSION, "%Y-%m-%d")
    target_date = start_date + timedelta(days=int(num_days))
    doy = target_date.timetuple().tm_yday - 1
    doy_cos = np.cos(2 * np.pi * doy / 365)
    doy_sin = np.sin(2 * np.pi * doy / 365)
    doy_cos, doy_sin = (doy_cos + 1) / 2, (doy_sin + 1) / 2
    return np.full((patch_size[0], patch_size[1]), doy_cos), np.full((patch_size[0], patch_size[1]), doy_sin)


def get_topology(dem):
    px, py = np.gradient(dem, 10)
    slope = np.sqrt(px**2 + py**2)
    aspect = np.pi / 2 - np.arctan2(py, px)
    aspect = np.where(aspect < 0, aspect + 2 * np.pi, aspect)
    aspect_cos = (np.cos(aspect) + 1) / 2
    aspect_sin = (np.sin(aspect) + 1) / 2
    return slope, aspect_cos, aspect_sin


def encode_lc(lc_data):
    lc_map = lc_data[:, :, 0]
    lc_cos = np.where(lc_map == NODATAVALS["LC"], 0, (np.cos(2 * np.pi * lc_map / 100) + 1) / 2)
    lc_sin = np.where(lc_map == NODATAVALS["LC"], 0, (np.sin(2 * np.pi * lc_map / 100) + 1) / 2)
    lc_prob = lc_data[:, :, 1]
    lc_prob = np.where(lc_prob == NODATAVALS["LC"], 0, lc_prob / 100)
    return lc_cos, lc_sin, lc_prob


class GEDIDataset:
    """``GEDIDataset`` with every input on (S2 bands + dates + doy, lat/lon, GEDI dates, ALOS, CH, LC sin/cos,
    DEM + topography), the given file names, and no normalisation."""

    def __init__(self, h5_path, mapping_path, fnames, mode, patch_size=(25, 25)):
        self.mode = mode
        self.index, self.length = initialize_index(fnames, mode, 1, mapping_path, h5_path)
        self.handles = {fname: h5py.File(join(h5_path, fname), "r") for fname in self.index}
        self.patch_size = patch_size
        self.center = 12
        self.window_size = patch_size[0] // 2

    def close(self):
        for h in self.handles.values():
            h.close()

    def __len__(self):
        return self.length

    def __getitem__(self, n):
        file_name, tile_name, idx = find_index_for_chunk(self.index, n, self.length)
        f = self.handles[file_name]
        lo, hi = self.center - self.window_size, self.center + self.window_size + 1
        out = {"file": file_name, "tile": tile_name, "idx": idx}
        if not hasattr(self, "s2_order"):  # the authors cache the order of the first tile read
            self.s2_order = list(f[tile_name]["S2_bands"].attrs["order"])

        s2_bands = f[tile_name]["S2_bands"][idx, lo:hi, lo:hi, :].astype(np.float32)
        if "S2_boa_offset" in f[tile_name]["Sentinel_metadata"].keys():
            # int(): the authors ran numpy 1.x, where the uint8 scalar times 1000 promotes by value; under numpy 2
            # (NEP 50) the same line raises OverflowError
            s2_boa_offset = int(f[tile_name]["Sentinel_metadata"]["S2_boa_offset"][idx])
        else:
            s2_boa_offset = 0
        sr_bands = (s2_bands - s2_boa_offset * 1000) / 10000
        sr_bands[s2_bands == 0] = 0
        sr_bands[sr_bands < 0] = 0
        out["s2_bands"] = sr_bands
        s2_num_days = f[tile_name]["Sentinel_metadata"]["S2_date"][idx]
        out["s2_num_days"] = s2_num_days
        out["s2_doy_cos"], out["s2_doy_sin"] = get_doy(s2_num_days, self.patch_size)

        lat_offset, lat_decimal = (
            f[tile_name]["GEDI"]["lat_offset"][idx],
            f[tile_name]["GEDI"]["lat_decimal"][idx],
        )
        lon_offset, lon_decimal = (
            f[tile_name]["GEDI"]["lon_offset"][idx],
            f[tile_name]["GEDI"]["lon_decimal"][idx],
        )
        lat = np.sign(lat_decimal) * (np.abs(lat_decimal) + lat_offset)
        lon = np.sign(lon_decimal) * (np.abs(lon_decimal) + lon_offset)
        out["lat"], out["lon"] = lat, lon
        out["lat_cos"], out["lat_sin"], out["lon_cos"], out["lon_sin"] = encode_coords(
            lat, lon, self.patch_size
        )

        gedi_num_days = f[tile_name]["GEDI"]["date"][idx]
        out["gedi_num_days"] = gedi_num_days
        out["gedi_doy_cos"], out["gedi_doy_sin"] = get_doy(gedi_num_days, self.patch_size)

        alos_bands = f[tile_name]["ALOS_bands"][idx, lo:hi, lo:hi, :].astype(np.float32)
        with np.errstate(divide="ignore"):  # the authors set np.seterr(divide="ignore") at import
            out["alos_bands"] = np.where(
                alos_bands == NODATAVALS["ALOS_bands"],
                -9999.0,
                10 * np.log10(np.power(alos_bands.astype(np.float32), 2)) - 83.0,
            )
        out["ch"] = f[tile_name]["CH"]["ch"][idx, lo:hi, lo:hi]
        out["ch_std"] = f[tile_name]["CH"]["std"][idx, lo:hi, lo:hi]

        lc = f[tile_name]["LC"][idx, lo:hi, lo:hi, :]
        out["lc"] = lc
        out["lc_cos"], out["lc_sin"], out["lc_prob"] = encode_lc(lc)

        dem = f[tile_name]["DEM"][idx, lo:hi, lo:hi]
        out["slope"], out["aspect_cos"], out["aspect_sin"] = get_topology(dem)
        out["dem"] = dem

        out["agbd"] = f[tile_name]["GEDI"]["agbd"][idx]
        return out
