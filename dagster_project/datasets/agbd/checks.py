"""Validation rules for the AGBD tables: GX rules on the scalar columns, plain-Python rules on the patch arrays.

Every failure example names the tile, the source file and the footprint's index in that file (``source_row``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from dagster_project.validation import Rule, RuleResult

from . import geo
from .layout import ALOS_BANDS, REF_BIOMES, S2_BANDS, SPLITS

# Plausible value ranges of the transformed arrays (nodata excluded). Reflectance above 1 occurs over bright
# surfaces and clouds, but not above ~1.6; ALOS gamma-naught of vegetated land lies within -45..10 dB.
RANGES: dict[str, tuple[float, float]] = {
    "s2_reflectance": (0.0, 1.6),
    "alos_gamma0_db": (-45.0, 10.0),
    "canopy_height": (0.0, 100.0),
    "canopy_height_std": (0.0, 100.0),
    "land_cover_prob": (0.0, 100.0),
    "dem": (-500.0, 9000.0),
}
CHANNELS = {"s2_reflectance": S2_BANDS, "alos_gamma0_db": ALOS_BANDS}
# Largest share of nodata pixels a band may have over a whole tile.
MAX_NODATA_FRACTION = 0.5
# Copernicus Global Land Cover discrete classes (REF_BIOMES plus the non-vegetated ones)
COPERNICUS_CLASSES = sorted({0, 50, 60, 70, 80, 100, 200, *REF_BIOMES})
ID_COLUMNS = ("tile", "source_file", "source_row")
MAX_EXAMPLES = 5


def _examples(df: pl.DataFrame, rows: np.ndarray, values: np.ndarray | None = None, **extra) -> list[dict]:
    out = []
    for k, i in enumerate(rows[:MAX_EXAMPLES]):
        e: dict[str, Any] = {c: df[c][int(i)] for c in ID_COLUMNS}
        if values is not None:
            v = values[k]
            e["value"] = round(float(v), 4) if np.ndim(v) == 0 else v
        e.update(extra)
        out.append(e)
    return out


def _per_channel(arr: np.ndarray) -> np.ndarray:
    """(N, P, P) -> (N, 1, P, P); (N, C, P, P) unchanged."""
    return arr[:, None] if arr.ndim == 3 else arr


def _bands(col: str) -> tuple[str, ...]:
    return CHANNELS.get(col, (col,))


NODATA_COLUMNS = ("s2_reflectance", "alos_gamma0_db", "canopy_height", "land_cover", "dem")


@dataclass
class PatchSummary:
    """What the patch rules need of a tile, a few hundred bytes per footprint instead of ~48 kB: the scalar columns
    of the patch table, and per band of each footprint's patch the worst out-of-range value (NaN when every
    valid pixel is in range) and the nodata fraction. Summaries of a tile's blocks concatenate into the tile's,
    so the rules see every footprint while the arrays are streamed."""

    scalars: pl.DataFrame
    worst: dict[tuple[str, str], np.ndarray]
    nodata: dict[tuple[str, str], np.ndarray]

    @classmethod
    def of(cls, patches: pl.DataFrame) -> PatchSummary:
        scalars = patches.select([c for c, t in patches.schema.items() if not isinstance(t, pl.Array)])
        worst: dict[tuple[str, str], np.ndarray] = {}
        nodata: dict[tuple[str, str], np.ndarray] = {}
        for col in dict.fromkeys([*RANGES, *NODATA_COLUMNS]):  # one array column in memory at a time
            arr = _per_channel(patches[col].to_numpy())
            for c, name in enumerate(_bands(col)):
                band = arr[:, c].reshape(len(arr), -1)
                if col in RANGES:
                    lo, hi = RANGES[col]
                    with np.errstate(invalid="ignore"):
                        bad = (band < lo) | (band > hi)
                    # the first bad pixel of largest magnitude (non-bad pixels rank below every bad one)
                    pick = (
                        np.argmax(np.where(bad, np.abs(band), -1.0), axis=1)
                        if band.size
                        else np.zeros(0, int)
                    )
                    w = band[np.arange(len(band)), pick] if band.size else np.zeros(0, band.dtype)
                    worst[(col, name)] = np.where(bad.any(axis=1), w, np.nan).astype(band.dtype)
                if col in NODATA_COLUMNS:
                    nodata[(col, name)] = np.isnan(band).mean(axis=1) if len(band) else np.zeros(0)
            del arr
        return cls(scalars, worst, nodata)

    @classmethod
    def concat(cls, parts: list[PatchSummary]) -> PatchSummary:
        first = parts[0]
        return cls(
            pl.concat([p.scalars for p in parts]),
            {k: np.concatenate([p.worst[k] for p in parts]) for k in first.worst},
            {k: np.concatenate([p.nodata[k] for p in parts]) for k in first.nodata},
        )


def band_range_rules(summary: PatchSummary) -> list[RuleResult]:
    """Every valid (non-nodata) pixel of each band lies in its plausible range."""
    results = []
    df = summary.scalars
    for col, (lo, hi) in RANGES.items():
        names = _bands(col)
        for name in names:
            worst = summary.worst[(col, name)]
            rows = np.flatnonzero(~np.isnan(worst))
            label = f"{col}[{name}] in [{lo}, {hi}]" if len(names) > 1 else f"{col} in [{lo}, {hi}]"
            results.append(
                RuleResult(
                    rule=f"value range: {label}",
                    passed=rows.size == 0,
                    unexpected_count=int(rows.size),
                    element_count=len(df),
                    examples=_examples(df, rows, worst[rows[:MAX_EXAMPLES]]),
                )
            )
    return results


def nodata_rules(summary: PatchSummary, max_fraction: float = MAX_NODATA_FRACTION) -> list[RuleResult]:
    """Per band, the share of nodata pixels over the tile stays at or below ``max_fraction``; footprints whose
    patch is mostly nodata are the examples."""
    results = []
    df = summary.scalars
    for col in NODATA_COLUMNS:
        names = _bands(col)
        for name in names:
            per_fp = summary.nodata[(col, name)]
            frac = float(per_fp.mean()) if len(per_fp) else 0.0
            worst = np.argsort(-per_fp)[:MAX_EXAMPLES]
            worst = worst[per_fp[worst] > max_fraction]
            label = f"{col}[{name}]" if len(names) > 1 else col
            results.append(
                RuleResult(
                    rule=f"nodata fraction of {label} <= {max_fraction}",
                    passed=frac <= max_fraction,
                    unexpected_count=0 if frac <= max_fraction else int((per_fp > max_fraction).sum()),
                    element_count=len(df),
                    examples=[]
                    if frac <= max_fraction
                    else _examples(df, worst, per_fp[worst], tile_fraction=frac),
                )
            )
    return results


def band_order_rules(df: pl.DataFrame) -> list[RuleResult]:
    """The HDF5 ``order`` attributes list the bands in the release's order (the arrays are read in that order)."""
    results = []
    for col, expected in (("s2_band_order", S2_BANDS), ("alos_band_order", ALOS_BANDS)):
        want = ",".join(expected)
        rows = np.flatnonzero((df[col].fill_null("") != want).to_numpy())
        # one example per file: the attribute belongs to the file's tile group, not to single footprints
        seen, picked = set(), []
        for i in rows:
            if df["source_file"][int(i)] not in seen:
                seen.add(df["source_file"][int(i)])
                picked.append(i)
        examples = _examples(df, np.array(picked, dtype=int), None)
        for e, i in zip(examples, picked, strict=False):
            e["order"] = df[col][int(i)]
        results.append(
            RuleResult(
                rule=f"{col.split('_')[0].upper()} attr 'order' is [{want}]",
                passed=rows.size == 0,
                unexpected_count=int(rows.size),
                element_count=len(df),
                examples=examples,
            )
        )
    return results


def location_rule(df: pl.DataFrame) -> RuleResult:
    """lat/lon of each footprint lies in its tile's UTM zone and latitude band (plus the tile's overhang)."""
    bad_rows: list[int] = []
    for tile, idx in df.with_row_index("_i").group_by("tile").agg(pl.col("_i")).iter_rows():
        idx = np.asarray(idx)
        try:
            lat_lo, lat_hi, lon_lo, lon_hi = geo.tile_extent(tile)
        except ValueError:
            bad_rows.extend(idx.tolist())
            continue
        lat, lon = df["lat"].to_numpy()[idx], df["lon"].to_numpy()[idx]
        out = ~((lat >= lat_lo) & (lat <= lat_hi) & (lon >= lon_lo) & (lon <= lon_hi))
        bad_rows.extend(idx[out].tolist())
    rows = np.array(sorted(bad_rows), dtype=int)
    examples = _examples(df, rows)
    for e, i in zip(examples, rows, strict=False):
        e["lat"], e["lon"] = round(float(df["lat"][int(i)]), 5), round(float(df["lon"][int(i)]), 5)
    return RuleResult(
        rule="lat/lon inside the tile's UTM zone and latitude band",
        passed=rows.size == 0,
        unexpected_count=int(rows.size),
        element_count=len(df),
        examples=examples,
    )


def patch_python_rules(summary: PatchSummary) -> list[RuleResult]:
    """The plain-Python rules of a tile's patch table, from its summary (``PatchSummary.of`` of the table, or the
    concatenated summaries of its blocks)."""
    df = summary.scalars
    return [*band_order_rules(df), *band_range_rules(summary), *nodata_rules(summary), location_rule(df)]


def patch_gx_rules() -> list[Rule]:
    """GX rules on the scalar columns of the patch table."""
    return [
        Rule("ExpectTableRowCountToBeBetween", {"min_value": 1}),
        *(
            Rule("ExpectColumnValuesToNotBeNull", {"column": c})
            for c in ("tile", "lat", "lon", "agbd", "agbd_se")
        ),
        Rule("ExpectColumnValuesToNotBeNull", {"column": "split"}, "every tile is in the official split"),
        Rule("ExpectColumnValuesToBeInSet", {"column": "split", "value_set": list(SPLITS)}),
        Rule("ExpectColumnValuesToBeBetween", {"column": "agbd", "min_value": 0}),
        Rule("ExpectColumnValuesToBeBetween", {"column": "agbd_se", "min_value": 0}),
        Rule("ExpectColumnValuesToBeBetween", {"column": "lat", "min_value": -90, "max_value": 90}),
        Rule("ExpectColumnValuesToBeBetween", {"column": "lon", "min_value": -180, "max_value": 180}),
        Rule(
            "ExpectColumnValuesToBeBetween", {"column": "s2_num_days", "min_value": -366, "max_value": 3000}
        ),
        Rule("ExpectColumnValuesToBeBetween", {"column": "gedi_num_days", "min_value": 0, "max_value": 3000}),
    ]


def split_coverage_rule(index: pl.DataFrame) -> RuleResult:
    """Every (tile, file) of the source is assigned exactly one of train/val/test: an HDF5 tile named by no split
    (its rows would have none) or by several (its rows would leak across splits) fails. HF rows always carry
    their shard's split, so an MGRS square holding rows of several HF splits passes here; it is a measurement
    (``source.split_mix``), not an error."""
    bad = (
        index.filter(pl.col("splits").list.len() != 1)
        .group_by("tile")
        .agg(pl.col("splits").first(), pl.col("source_file").sort())
        .sort("tile")
    )
    return RuleResult(
        rule="split assignment covers every tile exactly once",
        passed=bad.is_empty(),
        unexpected_count=bad.height,
        element_count=index["tile"].n_unique(),
        examples=[
            {"tile": t, "splits": list(s), "source_file": list(f)[:3]}
            for t, s, f in bad.head(MAX_EXAMPLES).iter_rows()
        ],
    )


def footprint_gx_rules() -> list[Rule]:
    return [
        Rule("ExpectTableRowCountToBeBetween", {"min_value": 1}),
        Rule("ExpectCompoundColumnsToBeUnique", {"column_list": ["source_file", "source_row"]}),
        Rule("ExpectColumnValuesToBeInSet", {"column": "land_cover", "value_set": COPERNICUS_CLASSES}),
        *(
            Rule("ExpectColumnValuesToBeBetween", {"column": c, "min_value": 0, "max_value": 1})
            for c in (
                "s2_nodata_frac",
                "alos_nodata_frac",
                "ch_nodata_frac",
                "lc_nodata_frac",
                "dem_nodata_frac",
            )
        ),
        *(
            Rule("ExpectColumnValuesToBeBetween", {"column": c, "min_value": 0, "max_value": 1})
            for c in ("lat_cos", "lat_sin", "lon_cos", "lon_sin", "s2_doy_cos", "s2_doy_sin")
        ),
    ]
