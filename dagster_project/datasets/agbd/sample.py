"""Deterministic synthetic AGBD sample, written in BOTH release formats.

``write_sample(dest)`` writes into ``dest``:

* the original HDF5 release layout: ``data_subset-{2019,2020}-v4_{0,1}-20.h5`` (one group per Sentinel-2 tile,
  datasets/dtypes/attrs/gzip chunking as ``Patches/create_patches.py`` creates them), ``biomes_splits_to_name.pkl``
  and ``statistics_subset_2019-2020-v4_new.pkl``;
* ``hf/data/{train,validation,test}-00000-of-00001.parquet``: the same footprints in the ``prs-eth/AGBD_raw``
  layout (``input`` float32 [32][25][25] with the authors' transforms applied, ``label``, ``metadata`` struct).

Each footprint has a centre value per source; a patch is that value on the centre 5x5 block and perturbed values
on the other 5x5 blocks (so the files compress to a few hundred kB), plus a planar DEM. Biomass is driven by
canopy height, NDVI (NIR/red), ALOS HV backscatter and the biome, plus noise. Nodata pixels (S2 swath edges, ALOS
layover, canopy-height gaps, LC/DEM holes) and S2 dates before the GEDI mission start (negative) are included.
``scale`` multiplies the number of tiles (footprints per tile stay the same), for benchmarks.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import h5py
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from . import geo
from .layout import (
    ALOS_BANDS,
    GEDI_DTYPES,
    HF_CHANNELS,
    HF_SCHEMA,
    NODATA,
    PATCH_SIZE,
    S2_BANDS,
    SPLITS_FILE,
    STATISTICS_FILE,
)
from .transforms import doy_encoding, latlon_encoding, topography

FOOTPRINTS_PER_TILE_YEAR = 18
YEARS = (2019, 2020)
CHUNKS = 2  # files per year in the sample (the full release has 20: ``_{i}-20``)
LIBVER = "v110"  # HDF5 1.10 chunk indexes: a third of the default format's per-dataset overhead
# Small row groups so readers stream; zstd without dictionaries keeps the nested float lists small.
HF_PARQUET_OPTIONS = {
    "row_group_size": 64,
    "compression": "zstd",
    "compression_level": 15,
    "use_dictionary": False,
}
BLOCK = 5  # patches are 5x5 blocks of 5x5 pixels

# (anchor lat, lon, split, GEDI region class, base elevation m, land-cover class -> probability)
ANCHORS = (
    (38.80, -123.58, "train", 7, 600, {111: 0.35, 121: 0.25, 20: 0.25, 30: 0.15}),  # N. California
    (-23.40, -56.60, "train", 6, 150, {122: 0.3, 126: 0.3, 20: 0.2, 40: 0.2}),  # Paraguay
    (-6.60, 36.70, "train", 4, 1100, {122: 0.3, 20: 0.3, 30: 0.2, 126: 0.2}),  # Tanzania
    (4.40, -52.90, "train", 6, 100, {112: 0.7, 116: 0.15, 90: 0.15}),  # French Guiana
    (47.40, 14.40, "train", 1, 900, {111: 0.35, 114: 0.2, 115: 0.25, 30: 0.2}),  # Austria
    (27.80, 84.50, "val", 5, 1500, {111: 0.3, 112: 0.3, 40: 0.2, 30: 0.2}),  # Nepal
    (6.60, -1.50, "test", 4, 250, {112: 0.4, 116: 0.2, 40: 0.2, 30: 0.2}),  # Ghana
    (-41.40, 172.60, "test", 3, 400, {111: 0.3, 112: 0.3, 30: 0.25, 20: 0.15}),  # New Zealand
)
# typical canopy height (m) and biomass factor per land-cover class
CH_MEAN = {
    111: 24,
    112: 30,
    114: 20,
    115: 22,
    116: 17,
    121: 12,
    122: 14,
    126: 9,
    20: 4,
    30: 1.5,
    40: 1.5,
    90: 2.5,
}
BIOME_FACTOR = {111: 1.0, 112: 1.25, 114: 0.9, 115: 0.95, 116: 0.8, 121: 0.7, 122: 0.8, 126: 0.6}
BIOME_FACTOR |= {20: 0.45, 30: 0.25, 40: 0.3, 90: 0.35}
PFT = {111: 1, 112: 2, 114: 4, 115: 3, 116: 2, 121: 1, 122: 2, 126: 5, 20: 5, 30: 6, 40: 7, 90: 6}


def _tiles(scale: int) -> list[tuple[str, tuple]]:
    """(tile name, anchor) per tile; copies for scale > 1 are shifted east by 2 degrees of longitude each."""
    out, seen = [], set()
    for k in range(scale):
        for lat, lon, *rest in ANCHORS:
            lon_k = ((lon + 2.0 * k + 180.0) % 360.0) - 180.0
            tile = str(geo.mgrs_tile(np.array([lat]), np.array([lon_k]))[0])
            if tile in seen:
                raise AssertionError(f"sample tile {tile} generated twice")
            seen.add(tile)
            out.append((tile, (lat, lon_k, *rest)))
    return out


def _points_in_tile(rng, tile: str, lat0: float, lon0: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    """n footprint positions inside the tile's MGRS square; a few sit exactly on an integer parallel/meridian."""
    lats, lons = [], []
    while sum(map(len, lats)) < n:
        lat = lat0 + rng.uniform(-0.4, 0.4, 4 * n)
        lon = lon0 + rng.uniform(-0.5, 0.5, 4 * n)
        keep = geo.mgrs_tile(lat, lon) == tile
        lats.append(lat[keep])
        lons.append(lon[keep])
    lat, lon = np.concatenate(lats)[:n], np.concatenate(lons)[:n]
    # integer coordinates: the fractional part stored in the release is then +-0.0 (the np.sign(0) pitfall)
    for i, (snap_lat, snap_lon) in enumerate(((True, False), (False, True))):
        la = np.round(lat[i]) if snap_lat else lat[i]
        lo = np.round(lon[i]) if snap_lon else lon[i]
        if geo.mgrs_tile(np.array([la]), np.array([lo]))[0] == tile:
            lat[i], lon[i] = la, lo
    return lat, lon


def _blocks(rng, n: int, choices, centre=1.0) -> np.ndarray:
    """(n, 5, 5) per-block factors with the centre block fixed, expanded to (n, 25, 25) pixels."""
    b = rng.choice(np.asarray(choices, dtype=np.float64), size=(n, BLOCK, BLOCK))
    b[:, BLOCK // 2, BLOCK // 2] = centre
    return b.repeat(BLOCK, axis=1).repeat(BLOCK, axis=2)


def _block_mask(rng, n: int, prob: float, *, edge_column: bool = False) -> np.ndarray:
    """(n, 25, 25) bool: for a fraction ``prob`` of footprints, one non-centre block (or the west edge column)."""
    mask = np.zeros((n, PATCH_SIZE, PATCH_SIZE), dtype=bool)
    for i in np.flatnonzero(rng.random(n) < prob):
        if edge_column:
            mask[i, :, :BLOCK] = True
        else:
            bi, bj = rng.integers(0, BLOCK, 2)
            if (bi, bj) == (BLOCK // 2, BLOCK // 2):
                bi = 0
            mask[i, bi * BLOCK : (bi + 1) * BLOCK, bj * BLOCK : (bj + 1) * BLOCK] = True
    return mask


def _footprints(rng, tile: str, anchor: tuple, year: int, n: int, tile_no: int) -> dict[str, np.ndarray]:
    """Raw (DN-level) arrays of one tile-year, as the HDF5 release stores them."""
    lat0, lon0, _split, region, elev, biomes = anchor
    P = PATCH_SIZE
    lat, lon = _points_in_tile(rng, tile, lat0, lon0, n)
    classes = np.array(list(biomes))
    lc_c = rng.choice(classes, size=n, p=np.array(list(biomes.values())))
    ch_c = np.clip(np.round(np.array([CH_MEAN[c] for c in lc_c]) * rng.uniform(0.3, 1.6, n)), 0, 60)
    ndvi = np.clip(0.25 + 0.6 * (1 - np.exp(-ch_c / 8)) + rng.normal(0, 0.05, n), 0.05, 0.93)
    red = np.clip(0.09 - 0.06 * ndvi + rng.normal(0, 0.006, n), 0.01, 0.2)
    nir = red * (1 + ndvi) / (1 - ndvi)
    swir = 0.12 + 0.12 * (1 - ndvi)
    refl = np.stack(
        [
            0.03 + 0.5 * red,  # B01
            0.8 * red,  # B02
            1.3 * red,  # B03
            red,  # B04
            0.45 * (red + nir),  # B05
            0.85 * nir,  # B06
            0.95 * nir,  # B07
            nir,  # B08
            1.02 * nir,  # B8A
            0.35 * nir,  # B09
            swir,  # B11
            0.55 * swir,  # B12
        ],
        axis=1,
    ) * rng.normal(1.0, 0.02, (n, len(S2_BANDS)))
    hv_db = -25 + 10 * (1 - np.exp(-ch_c / 15)) + rng.normal(0, 1.2, n)
    hh_db = hv_db + 7 + rng.normal(0, 0.8, n)
    factor = np.array([BIOME_FACTOR[c] for c in lc_c])
    signal = factor * 2.2 * ch_c**1.2 * (0.55 + 0.9 * ndvi) + 2.5 * (hv_db + 25)
    agbd = np.clip(signal + rng.normal(0, 1, n) * (6 + 0.08 * signal), 0, None).astype(np.float32)
    agbd_se = (0.1 * agbd + rng.uniform(2, 8, n)).astype(np.float32)

    # --- S2: DN with the BOA offset of reprocessed (baseline >= 04.00) products, SCL, dates
    pbn = rng.choice(np.array([211, 213, 214, 400, 509], dtype=np.uint16), n)
    boa = (pbn >= 400).astype(np.uint8)
    day0 = 0 if year == 2019 else (np.datetime64("2020-01-01") - np.datetime64("2019-04-17")).astype(int)
    day1 = (np.datetime64(f"{year}-12-31") - np.datetime64("2019-04-17")).astype(int)
    gedi_date = rng.integers(day0, day1 + 1, n).astype(np.uint16)
    s2_date = (gedi_date.astype(np.int64) + rng.integers(-90, 21, n)).astype(np.int16)  # early 2019: negative
    s2_mult = _blocks(rng, n, [0.85, 0.92, 1.0, 1.08, 1.18])
    dn = (
        np.round(refl[:, None, None, :] * s2_mult[..., None] * 10000)
        + 1000 * boa.astype(np.int64)[:, None, None, None]
    )
    dn = np.clip(dn, 1, 65535).astype(np.uint16)
    s2_nodata = _block_mask(rng, n, 0.06, edge_column=True)
    dn[s2_nodata] = NODATA["S2_bands"]
    scl_choice = _blocks(rng, n, [4] * 10 + [5, 8], centre=4).astype(np.uint8)
    scl = np.where(s2_nodata, 0, scl_choice).astype(np.uint8)
    veg = np.round(100 * (scl == 4).mean(axis=(1, 2))).astype(np.uint8)

    # --- ALOS PALSAR-2 DN from gamma0 dB (gamma0 = 10 log10(DN^2) - 83)
    db_off = _blocks(rng, n, [-1.5, -0.5, 0.0, 0.5, 1.5], centre=0.0)
    alos_db = np.stack([hh_db[:, None, None] + db_off, hv_db[:, None, None] + db_off], axis=-1)
    alos = np.clip(np.round(10 ** ((alos_db + 83) / 20)), 1, 65535).astype(np.uint16)
    alos[_block_mask(rng, n, 0.05)] = NODATA["ALOS_bands"]
    centre_gap = rng.random(n) < 0.02  # layover/shadow right on the footprint
    alos[centre_gap, 10:15, 10:15, :] = NODATA["ALOS_bands"]

    # --- canopy height (m) and its std, land cover, DEM
    ch = np.clip(np.round(ch_c[:, None, None] * _blocks(rng, n, [0.6, 0.8, 1.0, 1.2, 1.4])), 0, 254).astype(
        np.uint8
    )
    ch_std = np.clip(np.round(2 + 0.15 * ch), 0, 254).astype(np.uint8)
    ch_gap = _block_mask(rng, n, 0.05)
    ch[ch_gap], ch_std[ch_gap] = NODATA["CH"], NODATA["CH"]
    same = _blocks(rng, n, [1, 1, 1, 0], centre=1).astype(bool)
    other = rng.choice(classes, size=(n, BLOCK, BLOCK)).repeat(BLOCK, axis=1).repeat(BLOCK, axis=2)
    lc_cls = np.where(same, lc_c[:, None, None], other).astype(np.uint8)
    lc_prob = _blocks(rng, n, [55, 70, 85, 95]).astype(np.uint8)
    lc_prob[:, 10:15, 10:15] = rng.integers(60, 101, n)[:, None, None].astype(np.uint8)
    lc = np.stack([lc_cls, lc_prob], axis=-1)
    lc[_block_mask(rng, n, 0.02)] = NODATA["LC"]
    ii, jj = np.mgrid[0:P, 0:P] - P // 2
    dem_c = elev + rng.normal(0, 80, n)
    # a planar slope along rows or along columns (one direction keeps the sample's files small)
    step = rng.integers(-3, 4, n)[:, None, None]
    along_rows = (rng.random(n) < 0.5)[:, None, None]
    dem = np.round(dem_c[:, None, None] + np.where(along_rows, step * ii, step * jj)).astype(np.int16)
    dem[_block_mask(rng, n, 0.01)] = NODATA["DEM"]

    # --- GEDI attributes (names truncated to 10 characters as in the release)
    lat_dec, lat_int = np.modf(lat)  # the authors' explode_fp: signed fraction (float32) + |integer| (uint8)
    lon_dec, lon_int = np.modf(lon)
    year_code = 1 if year == 2019 else 2
    gedi = {
        "pft_class": np.array([PFT[c] for c in lc_c]),
        "region_cla": np.full(n, region),
        "leaf_off_f": (rng.random(n) < 0.1).astype(int),
        "urban_prop": rng.integers(0, 12, n),
        "agbd": agbd,
        "agbd_se": agbd_se,
        "elev_lowes": dem_c + rng.normal(0, 3, n),
        "selected_a": rng.integers(1, 7, n),
        "shot_numbe": (np.uint64(year_code * 10**16 + tile_no * 10**10) + np.arange(n, dtype=np.uint64)),
        "sensitivit": rng.uniform(0.9, 0.99, n),
        "solar_elev": rng.uniform(-30, 60, n),
        "rh98": np.clip(ch_c * 1.05 + rng.normal(0, 1.5, n), 0, None),
        "date": gedi_date,
        "granule_num": rng.integers(1, 5, n),
        "track_num": rng.integers(1000, 20000, n),
        "ppds": np.full(n, 2),
        "version_num": np.full(n, 2),
        "lat_offset": np.abs(lat_int),
        "lat_decimal": lat_dec,
        "lon_offset": np.abs(lon_int),
        "lon_decimal": lon_dec,
    }
    gedi = {k: np.asarray(v).astype(GEDI_DTYPES[k]) for k, v in gedi.items()}
    return {
        "S2_bands": dn,
        "S2_SCL": scl,
        "S2_vegetation_score": veg,
        "S2_date": s2_date,
        "S2_pbn": pbn,
        "S2_ron": rng.integers(1, 144, n).astype(np.uint8),
        "S2_boa_offset": boa,
        "ALOS_bands": alos,
        "ch": ch,
        "std": ch_std,
        "LC": lc,
        "DEM": dem,
        "GEDI": gedi,
    }


def _write_group(f: h5py.File, tile: str, d: dict) -> None:
    """One tile group exactly as ``init_h5_group``/``save_results`` lay it out (gzip, chunks of 1 footprint)."""
    g = f.create_group(tile)

    def ds(parent, name, data, order=None):
        chunks = (1, *data.shape[1:])
        dset = parent.create_dataset(
            name, data=data, maxshape=(None, *data.shape[1:]), chunks=chunks, compression="gzip"
        )
        if order is not None:
            dset.attrs["order"] = list(order)

    ds(g, "S2_bands", d["S2_bands"], S2_BANDS)
    ds(g, "S2_SCL", d["S2_SCL"])
    ds(g, "ALOS_bands", d["ALOS_bands"], ALOS_BANDS)
    meta = g.create_group("Sentinel_metadata")
    for k in ("S2_vegetation_score", "S2_date", "S2_pbn", "S2_ron", "S2_boa_offset"):
        ds(meta, k, d[k])
    gedi = g.create_group("GEDI")
    for k in GEDI_DTYPES:
        ds(gedi, k, d["GEDI"][k])
    ch = g.create_group("CH")
    ds(ch, "ch", d["ch"])
    ds(ch, "std", d["std"])
    ds(g, "LC", d["LC"])
    ds(g, "DEM", d["DEM"])


def _hf_input(d: dict) -> np.ndarray:
    """(N, 32, 25, 25) float32 in the AGBD_raw channel order: the authors' transforms, nodata as they leave it."""
    n = len(d["DEM"])
    P = PATCH_SIZE
    dn = d["S2_bands"].astype(np.float32)
    refl = (dn - d["S2_boa_offset"].astype(np.float32)[:, None, None, None] * 1000) / 10000
    refl[(d["S2_bands"] == 0) | (refl < 0)] = 0
    # float64 then rounded: float32 log10 differs in the last bit between CPUs' SIMD paths, and the sample must
    # be the same bytes on every machine
    with np.errstate(divide="ignore"):
        alos = np.where(
            d["ALOS_bands"] == 0, -9999.0, 10 * np.log10(d["ALOS_bands"].astype(np.float64) ** 2) - 83
        )
    g = d["GEDI"]
    sign_lat = np.where(np.signbit(g["lat_decimal"]), -1.0, 1.0)
    sign_lon = np.where(np.signbit(g["lon_decimal"]), -1.0, 1.0)
    lat = sign_lat * (g["lat_offset"] + np.abs(g["lat_decimal"].astype(np.float64)))
    lon = sign_lon * (g["lon_offset"] + np.abs(g["lon_decimal"].astype(np.float64)))
    s2c, s2s = doy_encoding(d["S2_date"])
    gc, gs = doy_encoding(g["date"])
    dem = d["DEM"].astype(np.float64)
    slope, aspect_cos, aspect_sin = topography(np.where(dem == NODATA["DEM"], np.nan, dem))
    const = {
        "s2_num_days": d["S2_date"],
        "s2_doy_cos": s2c,
        "s2_doy_sin": s2s,
        **dict(zip(("lat_cos", "lat_sin", "lon_cos", "lon_sin"), latlon_encoding(lat, lon), strict=True)),
        "gedi_num_days": g["date"],
        "gedi_doy_cos": gc,
        "gedi_doy_sin": gs,
    }
    x = np.empty((n, len(HF_CHANNELS), P, P), dtype=np.float32)
    x[:, : len(S2_BANDS)] = np.moveaxis(refl, -1, 1)
    for name, v in const.items():
        x[:, HF_CHANNELS.index(name)] = np.asarray(v, dtype=np.float32)[:, None, None]
    x[:, HF_CHANNELS.index("alos_hh")] = alos[..., 0]
    x[:, HF_CHANNELS.index("alos_hv")] = alos[..., 1]
    x[:, HF_CHANNELS.index("canopy_height")] = d["ch"]
    x[:, HF_CHANNELS.index("canopy_height_std")] = d["std"]
    x[:, HF_CHANNELS.index("land_cover")] = d["LC"][..., 0]
    x[:, HF_CHANNELS.index("land_cover_probability")] = d["LC"][..., 1]
    x[:, HF_CHANNELS.index("slope")] = np.nan_to_num(slope, nan=-9999.0)
    x[:, HF_CHANNELS.index("aspect_cos")] = np.nan_to_num(aspect_cos, nan=-9999.0)
    x[:, HF_CHANNELS.index("aspect_sin")] = np.nan_to_num(aspect_sin, nan=-9999.0)
    x[:, HF_CHANNELS.index("dem")] = d["DEM"]
    return x, lat, lon


def hf_table(d_list: list[dict], *, jitter: float = 0.0, seed: int = 0) -> pa.Table:
    """AGBD_raw rows (input/label/metadata) for a list of raw tile-year dicts; ``jitter`` > 0 multiplies every
    valid Sentinel-2 pixel by ``1 + N(0, jitter)`` (release-like compressibility, for benchmarks)."""
    xs, labels, metas = [], [], []
    rng = np.random.default_rng(seed)
    for d in d_list:
        x, lat, lon = _hf_input(d)
        if jitter:
            s2 = x[:, : len(S2_BANDS)]  # a view: jittered in place
            valid = s2 > 0
            s2[valid] *= rng.normal(1.0, jitter, int(valid.sum())).astype(np.float32)
        g = d["GEDI"]
        xs.append(x)
        labels.append(g["agbd"])
        metas.append(
            {
                "s2_num_days": d["S2_date"],
                "gedi_num_days": g["date"],
                "lat": lat.astype(np.float32),
                "lon": lon.astype(np.float32),
                "agbd_se": g["agbd_se"],
                "elev_lowes": g["elev_lowes"],
                "leaf_off_f": g["leaf_off_f"],
                "pft_class": g["pft_class"],
                "region_cla": g["region_cla"],
                "rh98": g["rh98"],
                "sensitivity": g["sensitivit"],
                "solar_elev": g["solar_elev"],
                "urban_prop": g["urban_prop"],
            }
        )
    x = np.concatenate(xs)
    n, C, H, W = x.shape
    inner = pa.ListArray.from_arrays(np.arange(0, n * C * H * W + 1, W, dtype=np.int32), pa.array(x.ravel()))
    mid = pa.ListArray.from_arrays(np.arange(0, n * C * H + 1, H, dtype=np.int32), inner)
    outer = pa.ListArray.from_arrays(np.arange(0, n * C + 1, C, dtype=np.int32), mid)
    meta_type = HF_SCHEMA.field("metadata").type
    meta = pa.StructArray.from_arrays(
        [
            pa.array(np.concatenate([m[f.name] for m in metas]), type=f.type)
            for f in (meta_type.field(i) for i in range(meta_type.num_fields))
        ],
        fields=[meta_type.field(i) for i in range(meta_type.num_fields)],
    )
    table = pa.Table.from_arrays([outer, pa.array(np.concatenate(labels)), meta], schema=HF_SCHEMA)
    return table.replace_schema_metadata({b"huggingface": json.dumps(_HF_FEATURES).encode()})


def _value(dtype: str) -> dict:
    return {"dtype": dtype, "_type": "Value"}


_HF_FEATURES = {
    "info": {
        "features": {
            "input": {
                "feature": {
                    "feature": {"feature": _value("float32"), "_type": "Sequence"},
                    "_type": "Sequence",
                },
                "_type": "Sequence",
            },
            "label": _value("float32"),
            "metadata": {
                f.name: _value({"float": "float32"}.get(str(f.type), str(f.type)))
                for f in (HF_SCHEMA.field("metadata").type.field(i) for i in range(13))
            },
        }
    }
}


def _stats(values: np.ndarray, nodata=None) -> dict[str, float]:
    v = np.asarray(values, dtype=np.float64).ravel()
    if nodata is not None:
        v = v[v != nodata]
    return {
        "mean": float(v.mean()),
        "std": float(v.std()),
        "min": float(v.min()),
        "max": float(v.max()),
        "p1": float(np.percentile(v, 1)),
        "p99": float(np.percentile(v, 99)),
    }


def _statistics(raw: list[dict]) -> dict:
    """Normalisation statistics in the shape the authors' loader indexes them (``norm_values[source][key]``)."""
    cat = {
        k: np.concatenate([d[k] for d in raw])
        for k in ("S2_bands", "S2_date", "ALOS_bands", "ch", "std", "DEM")
    }
    boa = np.concatenate([d["S2_boa_offset"] for d in raw]).astype(np.float64)
    refl = (cat["S2_bands"] - boa[:, None, None, None] * 1000) / 10000
    refl[cat["S2_bands"] == 0] = 0
    with np.errstate(divide="ignore"):
        alos = np.where(
            cat["ALOS_bands"] == 0, -9999.0, 10 * np.log10(cat["ALOS_bands"].astype(np.float64) ** 2) - 83
        )
    agbd = np.concatenate([d["GEDI"]["agbd"] for d in raw])
    gdate = np.concatenate([d["GEDI"]["date"] for d in raw])
    return {
        "S2_bands": {b: _stats(refl[..., i], 0) for i, b in enumerate(S2_BANDS)},
        "ALOS_bands": {b: _stats(alos[..., i], -9999.0) for i, b in enumerate(ALOS_BANDS)},
        "CH": {"ch": _stats(cat["ch"], 255), "std": _stats(cat["std"], 255)},
        "DEM": _stats(cat["DEM"], -9999),
        "Sentinel_metadata": {"S2_date": _stats(cat["S2_date"])},
        "GEDI": {"agbd": _stats(agbd), "date": _stats(gdate)},
    }


def write_sample(dest: Path, *, scale: int = 1, seed: int = 0) -> None:
    """Write the synthetic sample (HDF5 release at ``dest``, HF parquet under ``dest/hf``). Same bytes every run."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    tiles = _tiles(scale)
    splits: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    for tile, anchor in tiles:
        splits[anchor[2]].append(tile)
    hf_rows: dict[str, list[dict]] = {"train": [], "val": [], "test": []}
    all_raw = []
    for year in YEARS:
        for chunk in range(CHUNKS):
            path = dest / f"data_subset-{year}-v4_{chunk}-20.h5"
            tmp = path.with_suffix(".h5.tmp")
            with h5py.File(tmp, "w", libver=LIBVER) as f:
                for tile_no, (tile, anchor) in enumerate(tiles):
                    if tile_no % CHUNKS != chunk:
                        continue
                    rng = np.random.default_rng([seed, tile_no, year])
                    raw = _footprints(rng, tile, anchor, year, FOOTPRINTS_PER_TILE_YEAR, tile_no)
                    _write_group(f, tile, raw)
                    hf_rows[anchor[2]].append(raw)
                    all_raw.append(raw)
            tmp.replace(path)
    (dest / SPLITS_FILE).write_bytes(pickle.dumps(splits, protocol=4))
    (dest / STATISTICS_FILE).write_bytes(pickle.dumps(_statistics(all_raw), protocol=4))
    data = dest / "hf" / "data"
    data.mkdir(parents=True, exist_ok=True)
    for split, hf_name in (("train", "train"), ("val", "validation"), ("test", "test")):
        path = data / f"{hf_name}-00000-of-00001.parquet"
        pq.write_table(hf_table(hf_rows[split]), path, **HF_PARQUET_OPTIONS)


# ----------------------------------------------------------------------------------------------------------
# Release-sized inputs for the benchmark (written to a temp folder, never committed)


def _append(parent: h5py.Group, name: str, data: np.ndarray, order=None) -> None:
    """Create a dataset the way ``init_h5_group`` does (resizable, gzip, chunks of one footprint) on the first
    block, and append to it on the next ones, as ``save_results`` grows a tile group footprint batch by batch."""
    if name not in parent:
        dset = parent.create_dataset(
            name,
            data=data,
            maxshape=(None, *data.shape[1:]),
            chunks=(1, *data.shape[1:]),
            compression="gzip",
        )
        if order is not None:
            dset.attrs["order"] = list(order)
        return
    dset = parent[name]
    start = dset.shape[0]
    dset.resize(start + len(data), axis=0)
    dset[start:] = data


def write_large_hdf5(
    dest: Path,
    *,
    tiles: int = 1,
    footprints: int = 20_000,
    seed: int = 0,
    block: int = 2_000,
    jitter: float = 0.03,
):
    """An HDF5 release folder with ``tiles`` tile groups of ``footprints`` footprints each in one
    ``data_subset-2019-v4_0-20.h5`` (gzip, chunks of 1, as the authors write them), plus the split and statistics
    pickles. Generated ``block`` footprints at a time, so writing needs memory for one block only; ``jitter``
    perturbs every valid S2 / ALOS DN by ``N(0, jitter)`` relative noise so the chunks compress like real imagery."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    names = _tiles(-(-tiles // len(ANCHORS)))[:tiles]
    splits: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    first = None
    with h5py.File(dest / "data_subset-2019-v4_0-20.h5", "w", libver=LIBVER) as f:
        for tile_no, (tile, anchor) in enumerate(names):
            splits[anchor[2]].append(tile)
            g = f.create_group(tile)
            for b, start in enumerate(range(0, footprints, block)):
                rng = np.random.default_rng([seed, tile_no, b])
                d = _footprints(rng, tile, anchor, 2019, min(block, footprints - start), tile_no)
                for k in ("S2_bands", "ALOS_bands") if jitter else ():  # release-like compressibility
                    valid = d[k] > 0
                    noisy = d[k][valid] * rng.normal(1.0, jitter, int(valid.sum()))
                    d[k][valid] = np.clip(np.round(noisy), 1, 65535).astype(np.uint16)
                first = first or d
                _append(g, "S2_bands", d["S2_bands"], S2_BANDS)
                _append(g, "S2_SCL", d["S2_SCL"])
                _append(g, "ALOS_bands", d["ALOS_bands"], ALOS_BANDS)
                for k in ("S2_vegetation_score", "S2_date", "S2_pbn", "S2_ron", "S2_boa_offset"):
                    _append(g.require_group("Sentinel_metadata"), k, d[k])
                for k in GEDI_DTYPES:
                    _append(g.require_group("GEDI"), k, d["GEDI"][k])
                _append(g.require_group("CH"), "ch", d["ch"])
                _append(g.require_group("CH"), "std", d["std"])
                _append(g, "LC", d["LC"])
                _append(g, "DEM", d["DEM"])
    (dest / SPLITS_FILE).write_bytes(pickle.dumps(splits, protocol=4))
    (dest / STATISTICS_FILE).write_bytes(pickle.dumps(_statistics([first]), protocol=4))


def write_large_hf(dest: Path, *, shards: int = 1, rows: int = 6_000, seed: int = 0, jitter: float = 0.03):
    """``shards`` AGBD_raw train shards of ``rows`` rows each (under ``dest/data``), shaped like the release's
    (~6,000 rows per shard): rows of the sample's 8 places, every Sentinel-2 pixel jittered by ``jitter`` so the
    shard compresses like real imagery (~200 MB with zstd, the release's ~157 MB), not like the sample's 5x5
    blocks. Row groups of 100 rows.
    """
    data = Path(dest) / "data"
    data.mkdir(parents=True, exist_ok=True)
    names = _tiles(1)
    per_tile = -(-rows // len(names))
    for k in range(shards):
        raws = []
        for tile_no, (tile, anchor) in enumerate(names):
            rng = np.random.default_rng([seed, k, tile_no])
            raws.append(_footprints(rng, tile, anchor, 2019, per_tile, tile_no))
        table = hf_table(raws, jitter=jitter, seed=seed + k).slice(0, rows)
        pq.write_table(
            table, data / f"train-{k:05d}-of-{shards:05d}.parquet", row_group_size=100, compression="zstd"
        )


if __name__ == "__main__":
    import sys

    write_sample(Path(sys.argv[1] if len(sys.argv) > 1 else "assets/agbd"))
