"""AGBD source folders: which release a folder (or s3:// prefix) holds, the tile index (which file holds which
Sentinel-2 tile, and in which split), and one tile's footprints from every file holding it as the patch table.

Pure functions (no Dagster). The readers of the two formats are ``h5_reader`` and ``hf_reader``; the transforms
and the footprint table are in ``transforms``; remote listing and tile discovery over HTTPS in ``remote``.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import polars as pl

from dagster_project.errors import SourceFormatError

from .h5_reader import iter_h5_tile, open_h5, read_splits
from .hf_reader import hf_row_group_tiles, iter_hf_tile
from .layout import (
    BLOCK,
    FORMAT_HDF5,
    FORMAT_HF,
    H5_NAME,
    HF_SHARD,
    HF_SPLIT_NAMES,
    SPLITS_FILE,
    STATISTICS_FILE,
    TILE_INDEX_SCHEMA,
    empty_patch_frame,
)

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


def tile_index(fs, root: str, files: list[str] | None = None) -> pl.DataFrame:
    """One row per (tile, file): how many footprints the file holds for the tile and the split(s) naming it.

    HDF5: tile groups of every ``data_subset-*.h5`` and the splits of ``biomes_splits_to_name.pkl`` naming the
    tile (the split-coverage check blocks a tile with none or several: its rows would get no split or leak across
    splits). HF: the MGRS tile of each row's lat/lon, and the split of the shard the rows came from, so ``splits``
    has exactly one entry per (tile, shard). Sentinel-2 tiles overlap (109.8 km tiles on a 100 km grid), so one
    MGRS square can hold rows of several HF splits: each row keeps its own split (``split_mix`` reports them).
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
            with open_h5(fs, f"{root}/{name}", name) as f:
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
            for rg, tiles in enumerate(hf_row_group_tiles(fs, f"{root}/{name}", name)):
                u, c = np.unique(tiles, return_counts=True)
                for t, k in zip(u.tolist(), c.tolist(), strict=True):
                    counts[t] = counts.get(t, 0) + k
                    groups.setdefault(t, []).append(rg)
            rows.extend((t, name, None, k, [split], groups[t]) for t, k in sorted(counts.items()))
    index = pl.DataFrame(rows, schema=TILE_INDEX_SCHEMA, orient="row")
    return index.with_columns(source_format=pl.lit(fmt, dtype=pl.String()))


def split_mix(index: pl.DataFrame) -> pl.DataFrame:
    """Tiles whose footprints carry more than one split (HF rows of overlapping Sentinel-2 tiles falling in one
    MGRS square): one row per such tile with its footprints per split. Empty for the HDF5 release, where the split
    is a property of the tile."""
    per_split = (
        index.filter(pl.col("splits").list.len() == 1)
        .with_columns(split=pl.col("splits").list.first())
        .group_by("tile", "split")
        .agg(pl.col("n_footprints").sum())
    )
    mixed = per_split.group_by("tile").agg(pl.len().alias("n_splits")).filter(pl.col("n_splits") > 1)
    return (
        per_split.join(mixed.select("tile"), on="tile")
        .pivot("split", index="tile", values="n_footprints")
        .sort("tile")
    )


def list_tiles(fs, root: str) -> list[str]:
    """The Sentinel-2 tile names present in the source (the dynamic partition keys)."""
    return sorted(tile_index(fs, root)["tile"].unique().to_list())


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


def iter_tile(fs, root: str, tile: str, source: TileSource, block: int = BLOCK) -> Iterator[pl.DataFrame]:
    """All footprints of one tile, from every file of the release that holds it (files in order, rows in file
    order), as blocks of at most ``block`` rows of the typed patch table: what the ``agbd_patches`` asset streams
    into its parquet file. A tile whose files hold no footprint gives one empty block."""
    root = root.rstrip("/")
    empty = True
    for f, split, groups in source.files:
        if source.fmt == FORMAT_HDF5:
            blocks = iter_h5_tile(fs, f"{root}/{f}", f, tile, split, block)
        else:
            blocks = iter_hf_tile(fs, f"{root}/{f}", f, tile, split, list(groups), block)
        for b in blocks:
            if b.height:
                empty = False
                yield b
    if empty:
        yield empty_patch_frame()


def read_tile(fs, root: str, tile: str, source: TileSource, block: int = BLOCK) -> pl.DataFrame:
    """All footprints of one tile as one patch table (the blocks of ``iter_tile`` concatenated): for samples and
    tests; a full-size tile is streamed with ``iter_tile`` instead."""
    return pl.concat(list(iter_tile(fs, root, tile, source, block)))
