"""AGBD transforms, vectorised over footprints: the authors' per-source transforms and encodings
(``ghjuliasialelli/AGBD`` ``Models/dataset.py``) and the patch table -> footprint table summary.

* Sentinel-2 surface reflectance = ``(DN - boa_offset * 1000) / 10000``; the loader clamps negatives to 0 and
  then treats 0 as nodata, so every reflectance <= 0 becomes NaN here;
* ALOS PALSAR-2 DN -> gamma-naught dB = ``10 * log10(DN**2) - 83``; DN 0 is nodata;
* canopy height / its std and land cover: 255 is nodata; DEM: -9999 is nodata;
* lat/lon = ``sign(decimal) * (offset + |decimal|)``, where a decimal of exactly 0 takes its sign from the tile's
  hemisphere / UTM zone instead (``np.sign(0) == 0`` would put the footprint on the equator or meridian);
* dates are days since the GEDI mission start 2019-04-17, encoded as day-of-year cos/sin scaled to [0, 1];
* slope / aspect from ``np.gradient(dem, 10)`` as the authors' ``get_topology``.

Nodata is NaN in every float array (the authors write 0 or -9999 instead; here missing stays missing).
"""

from __future__ import annotations

import warnings

import numpy as np
import polars as pl

from .layout import BLOCK, CENTRE, FOOTPRINT_SCHEMA, GEDI_START_MISSION, NODATA, PATCH_SCHEMA, S2_BANDS

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
    """Days since 2019-04-17 -> day-of-year (cos, sin), each scaled to [0, 1], exactly the authors' ``get_doy``.

    The authors take ``timetuple().tm_yday - 1``, i.e. days since 1 January (0..365; their comment says
    "range [1, 366]" but the code subtracts 1), and the angle ``2 * pi * doy / 365``. This platform used
    ``tm_yday`` (one day later) until issue 14; the authors' value is used because their models were trained on it.
    """
    dates = GEDI_START_MISSION + np.asarray(num_days, dtype=np.int64).astype("timedelta64[D]")
    doy = (dates - dates.astype("datetime64[Y]").astype("datetime64[D]")).astype(np.int64)
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


def topography(dem: np.ndarray, resolution: float = 10.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(slope, aspect_cos, aspect_sin) of (..., H, W) DEM patches, exactly the authors' ``get_topology``.

    ``px, py = np.gradient(dem, 10)`` (px along rows, py along columns); slope is the gradient magnitude
    ``sqrt(px**2 + py**2)`` (metres per metre, not degrees); aspect is ``pi/2 - atan2(py, px)`` wrapped into
    [0, 2 pi), encoded as ``(cos + 1) / 2`` and ``(sin + 1) / 2`` in [0, 1]. Up to issue 14 this platform
    returned the slope in degrees and a downslope azimuth clockwise from north with plain cos/sin in [-1, 1]; the
    authors' encoding is used because their models were trained on it.

    The one deliberate difference: nodata is NaN here, so a gradient touching a nodata pixel is NaN (missing),
    where the authors' code differentiates the raw -9999 and gets a huge slope.
    """
    px, py = np.gradient(np.asarray(dem, dtype=np.float64), resolution, axis=(-2, -1))
    slope = np.sqrt(px**2 + py**2)
    aspect = np.pi / 2 - np.arctan2(py, px)
    aspect = np.where(aspect < 0, aspect + 2 * np.pi, aspect)
    return slope, (np.cos(aspect) + 1) / 2, (np.sin(aspect) + 1) / 2


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
    # the centre's central differences need only its 3x3 neighbourhood (same values as on the whole patch)
    slope, aspect_cos, aspect_sin = topography(dem[:, c - 1 : c + 2, c - 1 : c + 2])
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
        slope=slope[:, 1, 1],
        aspect_cos=aspect_cos[:, 1, 1],
        aspect_sin=aspect_sin[:, 1, 1],
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


# The patch table's columns `footprints_from_patches` reads (all but the scene classification, the BOA offset and
# vegetation score, and the band-order attributes): the others are not decompressed when it reads a file.
FOOTPRINT_INPUTS = [
    c
    for c in PATCH_SCHEMA
    if c not in ("s2_scl", "s2_boa_offset", "s2_vegetation_score", "s2_band_order", "alos_band_order")
]


def footprints_from_patch_file(fs, path: str, batch_size: int = BLOCK // 4) -> pl.DataFrame:
    """``footprints_from_patches`` of a patch table stored as parquet, read a row group (the table is written a
    block per row group) and ``batch_size`` footprints at a time: memory holds one row group's compressed column
    chunks, one batch of patch arrays with the summary's temporaries (``nanmean`` copies them), and the footprint
    table (~0.4 kB per footprint), never the patch table whole. The rows are the table's, in its order.
    Pre-buffering is off: its read cache would keep every row group read so far until the end."""
    import pyarrow.parquet as pq

    with fs.open(path, "rb") as fh:
        pf = pq.ParquetFile(fh, pre_buffer=False)
        frames = [
            footprints_from_patches(pl.from_arrow(batch))
            for rg in range(pf.num_row_groups)
            for batch in pf.iter_batches(batch_size=batch_size, row_groups=[rg], columns=FOOTPRINT_INPUTS)
        ]
    return pl.concat(frames) if frames else pl.DataFrame(schema=FOOTPRINT_SCHEMA)
