"""Vectorised WGS84 -> UTM -> MGRS tile names, and the lat/lon extent of a Sentinel-2 tile's UTM zone band.

Sentinel-2 tiles are the 100 km MGRS grid squares (name = UTM zone + latitude band + 2 square letters). The HF
``AGBD_raw`` rows carry no tile name, so the platform assigns each footprint the MGRS square it falls in. No
projection library is among the platform's dependencies, so UTM uses the Krüger series (sub-millimetre accurate
inside a zone), which is all MGRS lettering needs.
"""

from __future__ import annotations

import numpy as np

_A = 6378137.0
_F = 1 / 298.257223563
_N = _F / (2 - _F)
_RECT = _A / (1 + _N) * (1 + _N**2 / 4 + _N**4 / 64)
_ALPHA = (
    _N / 2 - 2 * _N**2 / 3 + 5 * _N**3 / 16,
    13 * _N**2 / 48 - 3 * _N**3 / 5,
    61 * _N**3 / 240,
)
_K0 = 0.9996
# Latitude bands C..X (I and O skipped), 8 degrees each from 80S; X is 12 degrees (72N..84N).
BANDS = "CDEFGHJKLMNPQRSTUVWX"
_COL_SETS = ("ABCDEFGH", "JKLMNPQR", "STUVWXYZ")
_ROWS = "ABCDEFGHJKLMNPQRSTUV"


def utm_zone(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """UTM zone number per point, with the Norway (32V) and Svalbard (31X..37X) exceptions."""
    lat, lon = np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64)
    zone = (np.floor((lon + 180.0) / 6.0).astype(np.int64) % 60) + 1
    zone = np.where((lat >= 56) & (lat < 64) & (lon >= 3) & (lon < 12), 32, zone)
    sval = (lat >= 72) & (lat < 84)
    for lo, hi, z in ((0, 9, 31), (9, 21, 33), (21, 33, 35), (33, 42, 37)):
        zone = np.where(sval & (lon >= lo) & (lon < hi), z, zone)
    return zone


def utm_forward(lat: np.ndarray, lon: np.ndarray, zone: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Easting/northing (metres, false northing 10 000 km south of the equator) in the given UTM zone."""
    phi = np.radians(np.asarray(lat, dtype=np.float64))
    dlam = np.radians(np.asarray(lon, dtype=np.float64) - (6.0 * np.asarray(zone) - 183.0))
    c = 2 * np.sqrt(_N) / (1 + _N)
    t = np.sinh(np.arctanh(np.sin(phi)) - c * np.arctanh(c * np.sin(phi)))
    xi = np.arctan2(t, np.cos(dlam))
    eta = np.arctanh(np.sin(dlam) / np.sqrt(1 + t**2))
    e_sum, n_sum = eta.copy(), xi.copy()
    for j, a in enumerate(_ALPHA, start=1):
        e_sum += a * np.cos(2 * j * xi) * np.sinh(2 * j * eta)
        n_sum += a * np.sin(2 * j * xi) * np.cosh(2 * j * eta)
    easting = 500000.0 + _K0 * _RECT * e_sum
    northing = _K0 * _RECT * n_sum
    return easting, np.where(np.asarray(lat) < 0, northing + 10_000_000.0, northing)


def mgrs_tile(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """MGRS 100 km square name (the Sentinel-2 tile name, e.g. ``10SEG``) of each point, as a str array."""
    lat, lon = np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64)
    zone = utm_zone(lat, lon)
    easting, northing = utm_forward(lat, lon, zone)
    band_idx = np.clip(np.floor((lat + 80.0) / 8.0).astype(np.int64), 0, len(BANDS) - 1)
    col_idx = np.clip(np.floor(easting / 100000.0).astype(np.int64), 1, 8) - 1
    set_idx = (zone - 1) % 3
    row_offset = np.where(zone % 2 == 0, 5, 0)
    row_idx = (np.floor(northing / 100000.0).astype(np.int64) + row_offset) % 20
    bands = np.array(list(BANDS))[band_idx]
    cols = np.array([list(s) for s in _COL_SETS])[set_idx, col_idx]
    rows = np.array(list(_ROWS))[row_idx]
    zones = np.char.zfill(zone.astype(str), 2)
    return np.char.add(np.char.add(np.char.add(zones, bands), cols), rows)


def parse_tile(tile: str) -> tuple[int, str]:
    """(UTM zone, latitude band letter) of a Sentinel-2 tile name like ``32TNN``; ValueError if malformed."""
    if len(tile) != 5 or not tile[:2].isdigit() or not 1 <= int(tile[:2]) <= 60 or tile[2] not in BANDS:
        raise ValueError(f"{tile!r} is not a Sentinel-2 tile name (two-digit UTM zone, band C..X, 2 letters)")
    return int(tile[:2]), tile[2]


# A Sentinel-2 tile is a 109.8 km square anchored on its MGRS cell, so it reaches past its zone's 6 degrees
# of longitude and past its 8-degree latitude band by up to ~110 km; the extent check allows that margin.
TILE_OVERHANG_KM = 110.0


def tile_extent(tile: str) -> tuple[float, float, float, float]:
    """(lat_min, lat_max, lon_min, lon_max) of the tile's UTM zone band, widened by the tile overhang."""
    zone, band = parse_tile(tile)
    b = BANDS.index(band)
    lat_lo = -80.0 + 8.0 * b
    lat_hi = 84.0 if band == "X" else lat_lo + 8.0
    lon_lo = -180.0 + 6.0 * (zone - 1)
    lon_hi = lon_lo + 6.0
    if band == "V" and zone in (31, 32):  # Norway: 31V is narrowed to 0..3E, 32V widened to 3..12E
        lon_lo, lon_hi = (0.0, 3.0) if zone == 31 else (3.0, 12.0)
    if band == "X" and zone in (31, 33, 35, 37):  # Svalbard: double-width zones
        lon_lo, lon_hi = {31: (0.0, 9.0), 33: (9.0, 21.0), 35: (21.0, 33.0), 37: (33.0, 42.0)}[zone]
    dlat = TILE_OVERHANG_KM / 111.0
    dlon = TILE_OVERHANG_KM / (111.32 * max(np.cos(np.radians(max(abs(lat_lo), abs(lat_hi)))), 0.05))
    return lat_lo - dlat, lat_hi + dlat, lon_lo - dlon, lon_hi + dlon


def tile_centre_signs(tiles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per tile name: the sign (+1/-1) of the latitude and longitude at its zone band's centre.

    Used to resolve coordinates whose stored fractional part is exactly 0 (see ``reconstruct_coordinate``).
    """
    uniq, inv = np.unique(np.asarray(tiles, dtype=str), return_inverse=True)
    lat_s = np.empty(len(uniq))
    lon_s = np.empty(len(uniq))
    for i, t in enumerate(uniq):
        zone, band = parse_tile(t)
        lat_s[i] = 1.0 if band >= "N" else -1.0
        lon_s[i] = 1.0 if 6.0 * zone - 183.0 > 0 else -1.0
    return lat_s[inv], lon_s[inv]
