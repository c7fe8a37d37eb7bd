"""A tile streamed in blocks (issue 17): the blocks of any size concatenate to the same patch table, the streamed
parquet file and the footprint table read back from it block by block are that table's, and the rules evaluated
from the blocks' summaries are the rules of the whole table, failures and examples included."""

from pathlib import Path

import fsspec
import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest
from polars.testing import assert_frame_equal

from dagster_project.datasets.agbd import checks, layout, source, transforms
from dagster_project.datasets.agbd.assets import patch_table_relpath, write_patch_table

SAMPLE = Path(__file__).resolve().parents[2] / "assets" / "agbd"
FS = fsspec.filesystem("file")
TILE = "21KWQ"


def _tile(root: Path, block: int = layout.BLOCK) -> list[pl.DataFrame]:
    index = source.tile_index(FS, str(root))
    return list(source.iter_tile(FS, str(root), TILE, source.tile_sources(index, TILE), block))


@pytest.mark.parametrize("root", [SAMPLE, SAMPLE / "hf"], ids=["hdf5", "hf"])
def test_blocks_of_any_size_give_the_same_tables_in_the_same_order(root, lake_local):
    whole = pl.concat(_tile(root, block=10_000))
    assert whole.height > 10 and whole.schema == pl.Schema(layout.PATCH_SCHEMA)
    blocks = _tile(root, block=7)
    assert len(blocks) >= whole.height // 7 and all(0 < b.height <= 7 for b in blocks)
    assert_frame_equal(pl.concat(blocks), whole, check_exact=True)

    rel = patch_table_relpath(TILE)
    summary = write_patch_table(lake_local, rel, iter(blocks))
    meta = pq.ParquetFile(lake_local.path(rel)).metadata
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [b.height for b in blocks]
    assert_frame_equal(lake_local.read_parquet(rel), whole, check_exact=True)
    footprints = transforms.footprints_from_patch_file(lake_local.fs, lake_local.path(rel), batch_size=5)
    assert_frame_equal(footprints, transforms.footprints_from_patches(whole), check_exact=True)
    assert_frame_equal(summary.scalars, whole.select(summary.scalars.columns), check_exact=True)
    assert not any(isinstance(t, pl.Array) for t in summary.scalars.dtypes)


def test_rules_from_block_summaries_are_the_rules_of_the_whole_tile():
    tile = pl.concat(_tile(SAMPLE, block=10_000))
    s2 = tile["s2_reflectance"].to_numpy().copy()
    s2[3, 7, 0, 0], s2[3, 7, 4, 4], s2[30, 7, 1, 1] = 3.5, -2.0, 1.9  # B08: two footprints, worst first
    ch = tile["canopy_height"].to_numpy().copy()
    ch[: tile.height * 2 // 3, :, :20] = np.nan  # mostly nodata across block boundaries
    broken = tile.with_columns(
        pl.Series("s2_reflectance", s2, dtype=tile.schema["s2_reflectance"]),
        pl.Series("canopy_height", ch, dtype=tile.schema["canopy_height"]),
    )
    whole = checks.patch_python_rules(checks.PatchSummary.of(broken))
    parts = [checks.PatchSummary.of(broken.slice(a, 4)) for a in range(0, broken.height, 4)]
    assert checks.patch_python_rules(checks.PatchSummary.concat(parts)) == whole
    failed = {r.rule: r for r in whole if not r.passed}
    assert set(failed) == {
        "value range: s2_reflectance[B08] in [0.0, 1.6]",
        f"nodata fraction of canopy_height <= {checks.MAX_NODATA_FRACTION}",
    }
    b08 = failed["value range: s2_reflectance[B08] in [0.0, 1.6]"]
    assert b08.unexpected_count == 2
    where = [(tile["source_file"][i], tile["source_row"][i]) for i in (3, 30)]
    assert [(e["source_file"], e["source_row"], e["value"]) for e in b08.examples] == [
        (*where[0], 3.5),
        (*where[1], 1.9),
    ]
