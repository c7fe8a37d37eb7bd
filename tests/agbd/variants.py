"""Variants of the published AGBD layouts that the readers must accept, built from the committed sample."""

import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from dagster_project.datasets.agbd import geo

SAMPLE_HF = Path(__file__).resolve().parents[2] / "assets" / "agbd" / "hf"
MIXED_TILE = "10SDH"
MOVED = 5


def mixed_split_hf(dest: Path) -> Path:
    """The HF sample with ``MOVED`` rows of the train tile ``MIXED_TILE`` moved to the validation shard, as
    overlapping Sentinel-2 tiles put rows of two splits into one MGRS square in the real release."""
    shutil.copytree(SAMPLE_HF, dest)
    train_path = dest / "data" / "train-00000-of-00001.parquet"
    val_path = dest / "data" / "validation-00000-of-00001.parquet"
    train, val = pq.read_table(train_path), pq.read_table(val_path)
    meta = train.column("metadata")
    lat = pc.struct_field(meta, "lat").to_numpy()
    lon = pc.struct_field(meta, "lon").to_numpy()
    rows = np.flatnonzero(geo.mgrs_tile(lat, lon) == MIXED_TILE)[:MOVED]
    keep = np.setdiff1d(np.arange(train.num_rows), rows)
    moved = train.take(pa.array(rows))
    pq.write_table(train.take(pa.array(keep)), train_path, row_group_size=64)
    pq.write_table(pa.concat_tables([val, moved]), val_path, row_group_size=64)
    return dest
