"""AGBD readers against the committed sample (both release formats) and against broken copies of it."""

import pickle
import shutil
from pathlib import Path

import fsspec
import h5py
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dagster_project.datasets.agbd import checks, geo, h5_reader, layout, remote, sample, source, transforms
from dagster_project.errors import SourceFormatError

from . import variants

SAMPLE = Path(__file__).resolve().parents[2] / "assets" / "agbd"
FS = fsspec.filesystem("file")
H5_2019 = "data_subset-2019-v4_0-20.h5"


@pytest.fixture
def release(tmp_path) -> Path:
    """A writable copy of the committed sample (HDF5 release at the root, HF shards under hf/)."""
    dest = tmp_path / "agbd"
    shutil.copytree(SAMPLE, dest)
    return dest


def _footprints(root: Path) -> pl.DataFrame:
    root = str(root)
    index = source.tile_index(FS, root)
    frames = [
        transforms.footprints_from_patches(source.read_tile(FS, root, t, source.tile_sources(index, t)))
        for t in source.list_tiles(FS, root)
    ]
    return pl.concat(frames)


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "README.md"
    }


# --- the sample -------------------------------------------------------------------------------------------


def test_committed_sample_is_exactly_what_write_sample_writes(tmp_path):
    sample.write_sample(tmp_path / "s")
    assert _files(tmp_path / "s") == _files(SAMPLE)


def test_sample_is_small_and_has_both_release_layouts():
    total = sum(p.stat().st_size for p in SAMPLE.rglob("*") if p.is_file())
    assert total < 1_500_000
    fmt, files = source.source_files(FS, str(SAMPLE))
    assert fmt == layout.FORMAT_HDF5
    assert files == [
        "data_subset-2019-v4_0-20.h5",
        "data_subset-2019-v4_1-20.h5",
        "data_subset-2020-v4_0-20.h5",
        "data_subset-2020-v4_1-20.h5",
        layout.SPLITS_FILE,
        layout.STATISTICS_FILE,
    ]
    fmt, shards = source.source_files(FS, str(SAMPLE / "hf"))
    assert fmt == layout.FORMAT_HF
    assert shards == [f"data/{s}-00000-of-00001.parquet" for s in ("test", "train", "validation")]


def test_hdf5_groups_have_the_release_datasets_dtypes_attrs_and_compression():
    expected = layout.h5_layout()
    with h5py.File(SAMPLE / H5_2019, "r") as f:
        assert len(f.keys()) == 4
        for tile in f:
            geo.parse_tile(tile)
            g = f[tile]
            for name, (dtype, shape) in expected.items():
                d = g[name]
                assert d.dtype == dtype, name
                assert d.shape[1:] == shape[1:], name
                assert d.compression == "gzip" and d.maxshape[0] is None and d.chunks[0] == 1, name
            assert list(g["S2_bands"].attrs["order"]) == list(layout.S2_BANDS)
            assert list(g["ALOS_bands"].attrs["order"]) == ["HH", "HV"]
            assert g["GEDI/shot_numbe"].dtype == np.uint64 and "lat_decimal" in g["GEDI"]


def test_hf_shards_have_the_agbd_raw_schema():
    for shard in sorted((SAMPLE / "hf" / "data").glob("*.parquet")):
        pf = pq.ParquetFile(shard)
        assert pf.schema_arrow.remove_metadata() == layout.HF_SCHEMA
        assert b"huggingface" in pf.schema_arrow.metadata
        row = pf.read_row_group(0).slice(0, 1).to_pylist()[0]
        assert len(row["input"]) == 32 and len(row["input"][0]) == 25 and len(row["input"][0][0]) == 25
        assert set(row["metadata"]) == {f.name for f in layout.HF_METADATA}


def test_pickles_hold_the_split_and_statistics():
    splits = h5_reader.read_splits(FS, str(SAMPLE / layout.SPLITS_FILE))
    assert {k: len(v) for k, v in splits.items()} == {"train": 5, "val": 1, "test": 2}
    stats = h5_reader.read_statistics(FS, str(SAMPLE / layout.STATISTICS_FILE))
    assert 0 < stats["S2_bands"]["B04"]["p1"] < stats["S2_bands"]["B04"]["p99"] < 0.3
    assert stats["GEDI"]["agbd"]["mean"] > 0


def test_split_assignment_covers_every_tile_exactly_once():
    for root in (SAMPLE, SAMPLE / "hf"):
        index = source.tile_index(FS, str(root))
        per_tile = index.group_by("tile").agg(pl.col("splits").first())
        assert per_tile.height == 8
        assert all(len(s) == 1 for s in per_tile["splits"])


# --- both formats land in the same typed tables --------------------------------------------------------------


def test_hdf5_and_hf_give_the_same_footprints():
    a = _footprints(SAMPLE).sort("tile", "gedi_num_days", "agbd")
    b = _footprints(SAMPLE / "hf").sort("tile", "gedi_num_days", "agbd")
    assert a.height == b.height == 288
    assert a.schema == b.schema == layout.FOOTPRINT_SCHEMA
    assert set(a["source_format"]) == {"hdf5"} and set(b["source_format"]) == {"hf"}
    assert a["shot_number"].null_count() == 0 and b["shot_number"].null_count() == b.height
    for col, dtype in layout.FOOTPRINT_SCHEMA.items():
        if col in ("source_format", "source_file", "source_row", "shot_number"):
            continue
        if dtype.is_float():
            np.testing.assert_allclose(
                a[col].to_numpy(), b[col].to_numpy(), atol=2e-5, rtol=1e-5, err_msg=col
            )
        else:
            assert a[col].to_list() == b[col].to_list(), col


def test_patch_table_keeps_arrays_in_chw_order_with_nan_nodata():
    index = source.tile_index(FS, str(SAMPLE))
    tile = "10SDH"
    patches = source.read_tile(FS, str(SAMPLE), tile, source.tile_sources(index, tile))
    assert patches.schema == pl.Schema(layout.PATCH_SCHEMA)
    assert patches.height == 36 and set(patches["split"]) == {"train"}
    s2 = patches["s2_reflectance"].to_numpy()
    assert s2.shape == (36, 12, 25, 25)
    with h5py.File(SAMPLE / H5_2019, "r") as f:
        dn = f[tile]["S2_bands"][()]
        boa = f[tile]["Sentinel_metadata/S2_boa_offset"][()]
        alos_dn = f[tile]["ALOS_bands"][()]
    assert boa.any() and not boa.all()  # both processing baselines are in the sample
    i = int(np.flatnonzero(boa)[0])
    assert s2[i, 3, 12, 12] == pytest.approx((dn[i, 12, 12, 3] - 1000) / 10000, abs=1e-6)
    assert np.isnan(s2[:18][np.moveaxis(dn == 0, -1, 1)]).all()
    alos = patches["alos_gamma0_db"].to_numpy()[:18]
    ok = alos_dn[:, 12, 12, 1] > 0
    expected = 10 * np.log10(alos_dn[ok, 12, 12, 1].astype(np.float64) ** 2) - 83
    np.testing.assert_allclose(alos[ok, 1, 12, 12], expected, atol=1e-4)


def test_sample_has_nodata_and_negative_s2_dates():
    fp = _footprints(SAMPLE)
    assert (fp["s2_num_days"] < 0).sum() > 0
    assert (fp["s2_nodata_frac"] > 0).sum() > 0
    assert (fp["alos_nodata_frac"] > 0).sum() > 0 and fp["alos_hv_db"].null_count() > 0
    assert (fp["ch_nodata_frac"] > 0).sum() > 0
    assert fp["agbd"].min() >= 0 and fp["agbd_se"].min() > 0


def test_biomass_has_signal_from_canopy_height_ndvi_and_hv():
    fp = _footprints(SAMPLE)
    ndvi = (fp["s2_b08"] - fp["s2_b04"]) / (fp["s2_b08"] + fp["s2_b04"])
    agbd = fp["agbd"].to_numpy()
    for x in (fp["canopy_height"].to_numpy(), ndvi.to_numpy(), fp["alos_hv_db_mean"].to_numpy()):
        ok = ~np.isnan(x)
        assert np.corrcoef(x[ok], agbd[ok])[0, 1] > 0.5


# --- transforms ----------------------------------------------------------------------------------------------


def test_integer_coordinates_keep_their_sign():
    """Fractional part exactly 0 (stored as -0.0 or +0.0): np.sign would give 0 degrees."""
    offset = np.array([23, 23, 56, 0], dtype=np.uint8)
    decimal = np.array([-0.0, 0.0, 0.0, 0.25], dtype=np.float32)
    fallback = np.array([-1.0, -1.0, -1.0, -1.0])
    got = transforms.reconstruct_coordinate(offset, decimal, fallback)
    np.testing.assert_array_equal(got, [-23.0, -23.0, -56.0, 0.25])
    naive = np.sign(decimal) * (offset + np.abs(decimal))
    assert naive[0] == 0 and naive[1] == 0  # the pitfall this guards against


def test_sample_footprints_on_integer_coordinates_land_in_their_tile():
    fp = _footprints(SAMPLE)
    on_integer = fp.filter(
        (pl.col("lat") == pl.col("lat").round()) | (pl.col("lon") == pl.col("lon").round())
    )
    assert on_integer.height >= 4
    tiles = geo.mgrs_tile(on_integer["lat"].to_numpy(), on_integer["lon"].to_numpy())
    assert tiles.tolist() == on_integer["tile"].to_list()
    assert (on_integer["lat"] != 0).all() and (on_integer["lon"] != 0).all()


def test_mgrs_tiles_of_known_places():
    lat = np.array([37.7749, 40.6892, 47.3769, -33.8688, 51.5007])
    lon = np.array([-122.4194, -74.0445, 8.5417, 151.2093, -0.1246])
    assert geo.mgrs_tile(lat, lon).tolist() == ["10SEG", "18TWL", "32TMT", "56HLH", "30UXC"]
    # Norway and Svalbard zone exceptions
    assert geo.utm_zone(np.array([60.39, 78.2, 50.0]), np.array([5.32, 15.6, 5.32])).tolist() == [32, 33, 31]
    e, n = geo.utm_forward(np.array([37.7749]), np.array([-122.4194]), np.array([10]))
    assert e[0] == pytest.approx(551131, abs=2) and n[0] == pytest.approx(4180999, abs=2)


# --- bad input -----------------------------------------------------------------------------------------------


def _read_all(root: Path) -> None:
    _footprints(root)


def test_truncated_hdf5_names_the_file_and_rule(release):
    path = release / H5_2019
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(SourceFormatError) as err:
        _read_all(release)
    assert err.value.file == H5_2019 and err.value.rule == "file is a readable HDF5 file"
    assert "truncated" in str(err.value)


def test_corrupt_chunk_names_file_tile_and_rule(release):
    path = release / H5_2019
    with h5py.File(path, "r") as f:
        offset = f["10SDH/S2_bands"].id.get_chunk_info(3).byte_offset
    data = bytearray(path.read_bytes())
    data[offset : offset + 64] = b"\xff" * 64
    path.write_bytes(bytes(data))
    with pytest.raises(SourceFormatError) as err:
        _read_all(release)
    assert err.value.file == H5_2019 and "tile 10SDH" in str(err.value) and "S2_bands" in str(err.value)


def _edit_group(path: Path, tile: str, edit) -> None:
    with h5py.File(path, "r+") as f:
        edit(f[tile])


def test_tile_group_missing_a_dataset(release):
    _edit_group(release / H5_2019, "33TVN", lambda g: g["CH"].__delitem__("std"))
    with pytest.raises(SourceFormatError) as err:
        _read_all(release)
    assert err.value.file == H5_2019 and err.value.rule == "tile group has every dataset"
    assert "tile 33TVN" in str(err.value) and "CH/std" in str(err.value)


def test_wrong_dtype(release):
    def to_float(g):
        data = g["S2_bands"][()].astype(np.float32)
        del g["S2_bands"]
        g.create_dataset("S2_bands", data=data, compression="gzip")

    _edit_group(release / H5_2019, "37MBN", to_float)
    with pytest.raises(SourceFormatError) as err:
        _read_all(release)
    assert err.value.rule == "dataset has dtype uint16"
    assert "tile 37MBN" in str(err.value) and "'S2_bands' is float32" in str(err.value)


def test_footprint_count_mismatch_between_sources(release):
    def drop_last(g):
        data = g["ALOS_bands"][:-1]
        del g["ALOS_bands"]
        g.create_dataset("ALOS_bands", data=data, compression="gzip")

    _edit_group(release / H5_2019, "10SDH", drop_last)
    with pytest.raises(SourceFormatError) as err:
        _read_all(release)
    assert err.value.rule == "all sources of a tile have the same footprints"
    assert "tile 10SDH" in str(err.value) and "'ALOS_bands' has 17 footprints" in str(err.value)


def test_patch_size_mismatch_between_sources(release):
    def crop(g):
        data = g["DEM"][:, 5:20, 5:20]
        del g["DEM"]
        g.create_dataset("DEM", data=data, compression="gzip")

    _edit_group(release / H5_2019, "10SDH", crop)
    with pytest.raises(SourceFormatError) as err:
        _read_all(release)
    assert err.value.rule == "all sources of a tile share one square patch size"
    assert "tile 10SDH" in str(err.value) and "'DEM' patches are (15, 15)" in str(err.value)


def test_parquet_shard_with_a_different_schema(release):
    shard = release / "hf" / "data" / "validation-00000-of-00001.parquet"
    table = pq.read_table(shard)
    table = table.set_column(1, "label", table.column("label").cast(pa.float64()))
    pq.write_table(table, shard)
    with pytest.raises(SourceFormatError) as err:
        _read_all(release / "hf")
    assert err.value.file == "data/validation-00000-of-00001.parquet"
    assert err.value.rule == "parquet schema matches prs-eth/AGBD_raw" and "'label' is double" in str(
        err.value
    )


def test_parquet_shard_missing_a_metadata_field(release):
    shard = release / "hf" / "data" / "test-00000-of-00001.parquet"
    table = pq.read_table(shard)
    meta = table.column("metadata").combine_chunks()
    keep = [i for i in range(meta.type.num_fields) if meta.type.field(i).name != "agbd_se"]
    slim = pa.StructArray.from_arrays(
        [meta.field(i) for i in keep], fields=[meta.type.field(i) for i in keep]
    )
    pq.write_table(table.set_column(2, "metadata", slim), shard)
    with pytest.raises(SourceFormatError) as err:
        _read_all(release / "hf")
    assert err.value.file == "data/test-00000-of-00001.parquet" and "metadata" in str(err.value)


def test_parquet_input_with_a_wrong_patch_shape_names_the_row(release):
    shard = release / "hf" / "data" / "test-00000-of-00001.parquet"
    table = pq.read_table(shard)
    rows = table.column("input").to_pylist()
    rows[5] = [ch[:24] for ch in rows[5]]
    table = table.set_column(0, "input", pa.array(rows, type=layout.HF_SCHEMA.field("input").type))
    pq.write_table(table, shard)
    with pytest.raises(SourceFormatError) as err:
        _read_all(release / "hf")
    assert err.value.rule == "input is float32 [32][25][25]" and err.value.row == 5


def test_split_pickle_with_code_is_refused(release):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    (release / layout.SPLITS_FILE).write_bytes(pickle.dumps({"train": [Evil()], "val": [], "test": []}))
    with pytest.raises(SourceFormatError) as err:
        source.tile_index(FS, str(release))
    assert err.value.rule == "pickle holds only plain data" and "builtins.print" in str(err.value)


def test_source_with_both_or_no_release_is_refused(release, tmp_path):
    shutil.copytree(release / "hf" / "data", release / "data")
    with pytest.raises(SourceFormatError, match="exactly one AGBD release"):
        source.detect_format(FS, str(release))
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceFormatError, match="exactly one AGBD release"):
        source.detect_format(FS, str(tmp_path / "empty"))


def test_remote_layout():
    files = remote.hdf5_release_files()
    assert len(files) == 42 and files[0] == "data_subset-2019-v4_0-20.h5"
    assert remote.hdf5_release_url("biomes_splits_to_name.pkl").endswith(
        "?path=%2F&files=biomes_splits_to_name.pkl"
    )
    assert (
        remote.hf_resolve_url("data/train-00000-of-00001.parquet")
        == "https://huggingface.co/datasets/prs-eth/AGBD_raw/resolve/main/data/train-00000-of-00001.parquet"
    )
    tree = [
        {
            "type": "file",
            "path": "data/test-00001-of-00002.parquet",
            "size": 9,
            "lfs": {"oid": "ab", "size": 10},
        },
        {"type": "file", "path": "README.md", "size": 5},
        {"type": "directory", "path": "data"},
    ]
    assert remote.hf_files_from_tree(tree) == [("data/test-00001-of-00002.parquet", 10, "ab")]


# --- HF: rows of several splits in one MGRS square (overlapping Sentinel-2 tiles) --------------------------------


def test_hf_rows_keep_their_shard_split_when_a_tile_mixes_splits(tmp_path):
    root = str(variants.mixed_split_hf(tmp_path / "hf"))
    index = source.tile_index(FS, root)
    rows = index.filter(pl.col("tile") == variants.MIXED_TILE).sort("source_file")
    assert rows["splits"].to_list() == [["train"], ["val"]]
    assert rows["n_footprints"].to_list() == [36 - variants.MOVED, variants.MOVED]
    # the split rule passes (each row has its own split) and the mix is reported
    assert checks.split_coverage_rule(index).passed
    mix = source.split_mix(index)
    assert mix.to_dicts() == [
        {"tile": variants.MIXED_TILE, "train": 36 - variants.MOVED, "val": variants.MOVED}
    ]
    patches = source.read_tile(FS, root, variants.MIXED_TILE, source.tile_sources(index, variants.MIXED_TILE))
    assert patches["split"].null_count() == 0
    counts = dict(patches.group_by("split").len().iter_rows())
    assert counts == {"train": 36 - variants.MOVED, "val": variants.MOVED}
    moved = patches.filter(pl.col("source_file") == "data/validation-00000-of-00001.parquet")
    assert set(moved["split"]) == {"val"} and moved.height == variants.MOVED
    # the unmixed sample reports nothing
    assert source.split_mix(source.tile_index(FS, str(SAMPLE / "hf"))).is_empty()


def test_hdf5_tile_named_by_two_splits_still_fails_the_split_rule(release):
    splits = pickle.loads((release / layout.SPLITS_FILE).read_bytes())
    splits["test"].append(splits["train"][0])
    (release / layout.SPLITS_FILE).write_bytes(pickle.dumps(splits))
    result = checks.split_coverage_rule(source.tile_index(FS, str(release)))
    assert not result.passed and result.examples[0]["tile"] == splits["train"][0]
    assert result.examples[0]["splits"] == ["train", "test"]
