"""The platform's AGBD reader against a port of the authors' loader (``tests/agbd/authors_loader.py``), side by side
on a fixture written here from the authors' HDF5 layout, independently of ``sample.py``: other tiles, footprint
counts, values, chunking and attribute encodings, with the optional ``S2_boa_offset`` present in some groups and
absent in others, and an extra dataset the loader does not read.

Agreement is asserted on every value the model consumes; where the platform deliberately differs (nodata kept as
NaN instead of 0 / -9999, and the ``np.sign(0)`` coordinate pitfall) the test says so and checks the difference is
exactly that.
"""

import pickle
from pathlib import Path

import fsspec
import h5py
import numpy as np
import polars as pl
import pytest

from dagster_project.datasets.agbd import layout, source, transforms

from . import authors_loader as authors

FS = fsspec.filesystem("file")
P = 25
C = P // 2
FILES = ("data_subset-2019-v4_3-20.h5", "data_subset-2020-v4_11-20.h5")
# (file, tile, footprints, has S2_boa_offset, gzip chunks of 1 like the authors or one contiguous block)
GROUPS = (
    (FILES[0], "31UFU", 7, True, True),
    (FILES[0], "19LCK", 11, False, False),
    (FILES[1], "31UFU", 4, True, False),
    (FILES[1], "50NKL", 5, False, True),
    (FILES[1], "19LCK", 3, True, True),
)
SPLIT_TILES = {"train": ["31UFU", "07VCE"], "val": ["50NKL"], "test": ["19LCK"]}


def _group(f: h5py.File, tile: str, n: int, boa: bool, chunked: bool, rng: np.random.Generator) -> None:
    g = f.create_group(tile)

    def put(parent, name, data, order=None):
        kw = {"chunks": (1, *data.shape[1:]), "compression": "gzip", "maxshape": (None, *data.shape[1:])}
        d = parent.create_dataset(name, data=data, **(kw if chunked else {}))
        if order is not None:  # one group stores the attribute as bytes, the other as variable-length str
            d.attrs["order"] = np.array(order, dtype="S3") if chunked else list(order)

    dn = rng.integers(200, 9000, (n, P, P, 12)).astype(np.uint16)
    dn[0, :3] = 0  # swath edge
    dn[-1, C, C, 3] = 700  # below the BOA offset: negative reflectance when boa = 1
    put(g, "S2_bands", dn, layout.S2_BANDS)
    put(g, "S2_SCL", rng.integers(0, 12, (n, P, P)).astype(np.uint8))
    alos = rng.integers(800, 9000, (n, P, P, 2)).astype(np.uint16)
    alos[:, :2, :2] = 0
    put(g, "ALOS_bands", alos, layout.ALOS_BANDS)
    meta = g.create_group("Sentinel_metadata")
    put(meta, "S2_vegetation_score", rng.integers(0, 101, n).astype(np.uint8))
    put(meta, "S2_date", rng.integers(-120, 1400, n).astype(np.int16))
    put(meta, "S2_pbn", rng.integers(200, 600, n).astype(np.uint16))
    put(meta, "S2_ron", rng.integers(1, 143, n).astype(np.uint8))
    if boa:
        put(meta, "S2_boa_offset", (np.arange(n) % 2).astype(np.uint8))
    gedi = g.create_group("GEDI")
    for name, dtype in layout.GEDI_DTYPES.items():
        put(gedi, name, rng.integers(0, 100, n).astype(dtype))
    lat_dec = rng.uniform(-0.99, 0.99, n).astype(np.float32)
    lat_dec[0] = 0.0  # an integer latitude: the np.sign(0) pitfall
    del gedi["lat_decimal"], gedi["lon_decimal"], gedi["agbd"], gedi["date"]
    put(gedi, "lat_decimal", lat_dec)
    put(gedi, "lon_decimal", rng.uniform(-0.99, 0.99, n).astype(np.float32))
    put(gedi, "agbd", rng.gamma(2.0, 60.0, n).astype(np.float32))
    put(gedi, "date", rng.integers(0, 1500, n).astype(np.uint16))
    put(gedi, "beam", rng.integers(0, 8, n).astype(np.uint8))  # not in the release layout: ignored
    ch = g.create_group("CH")
    height = rng.integers(0, 60, (n, P, P)).astype(np.uint8)
    height[:, -3:] = 255
    put(ch, "ch", height)
    put(ch, "std", rng.integers(0, 20, (n, P, P)).astype(np.uint8))
    lc = np.stack(
        [rng.choice([20, 40, 111, 112, 126], (n, P, P)), rng.integers(30, 101, (n, P, P))], axis=-1
    ).astype(np.uint8)
    lc[:, 0, :] = 255
    put(g, "LC", lc)
    ii, jj = np.mgrid[0:P, 0:P]
    a, b = rng.uniform(-4, 4, (2, n))
    dem = np.round(300 + a[:, None, None] * ii + b[:, None, None] * jj + rng.normal(0, 1.5, (n, P, P)))
    dem = dem.astype(np.int16)
    dem[:, -1, -1] = -9999
    put(g, "DEM", dem)


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("authors_layout")
    rng = np.random.default_rng(20240605)
    for name in FILES:
        with h5py.File(root / name, "w") as f:
            for file, tile, n, boa, chunked in GROUPS:
                if file == name:
                    _group(f, tile, n, boa, chunked, rng)
    (root / layout.SPLITS_FILE).write_bytes(pickle.dumps(SPLIT_TILES))
    (root / layout.STATISTICS_FILE).write_bytes(pickle.dumps({"S2_bands": {}, "GEDI": {}}))
    return root


@pytest.fixture(scope="module")
def ours(release) -> tuple[pl.DataFrame, pl.DataFrame]:
    index = source.tile_index(FS, str(release))
    patches = pl.concat(
        source.read_tile(FS, str(release), t, source.tile_sources(index, t))
        for t in source.list_tiles(FS, str(release))
    )
    return patches, transforms.footprints_from_patches(patches)


def _authors(release: Path) -> list[dict]:
    out = []
    for mode in ("train", "val", "test"):
        ds = authors.GEDIDataset(str(release), str(release), list(FILES), mode)
        try:
            out.extend({**ds[i], "split": mode} for i in range(len(ds)))
        finally:
            ds.close()
    return out


def _nan_where(values: np.ndarray, nodata: np.ndarray) -> np.ndarray:
    return np.where(nodata, np.nan, values.astype(np.float64))


def test_reader_and_authors_loader_agree_on_every_value_the_model_consumes(release, ours):
    patches, fp = ours
    samples = _authors(release)
    assert len(samples) == sum(g[2] for g in GROUPS) == patches.height == fp.height
    key = {
        (f, t, int(r)): i
        for i, (f, t, r) in enumerate(patches.select("source_file", "tile", "source_row").rows())
    }
    assert set(key) == {(s["file"], s["tile"], s["idx"]) for s in samples}
    s2 = patches["s2_reflectance"].to_numpy()
    alos = patches["alos_gamma0_db"].to_numpy()
    arrays = {
        c: patches[c].to_numpy()
        for c in ("canopy_height", "canopy_height_std", "land_cover", "land_cover_prob", "dem")
    }
    zero_decimal = 0
    for s in samples:
        i = key[(s["file"], s["tile"], s["idx"])]
        row = fp.row(i, named=True)
        assert patches["split"][i] == s["split"] == row["split"]
        assert row["agbd"] == s["agbd"]
        assert row["s2_num_days"] == s["s2_num_days"] and row["gedi_num_days"] == s["gedi_num_days"]
        # Sentinel-2: the authors write 0 for nodata and for reflectance <= 0; the platform NaN
        authors_s2 = np.moveaxis(s["s2_bands"], -1, 0)
        np.testing.assert_array_equal(s2[i], _nan_where(authors_s2, authors_s2 == 0).astype(np.float32))
        authors_alos = np.moveaxis(s["alos_bands"], -1, 0)
        np.testing.assert_allclose(alos[i], _nan_where(authors_alos, authors_alos == -9999.0), rtol=1e-6)
        np.testing.assert_array_equal(arrays["canopy_height"][i], _nan_where(s["ch"], s["ch"] == 255))
        np.testing.assert_array_equal(
            arrays["canopy_height_std"][i], _nan_where(s["ch_std"], s["ch_std"] == 255)
        )
        lc_class, lc_prob = s["lc"][..., 0], s["lc"][..., 1]
        np.testing.assert_array_equal(arrays["land_cover"][i], _nan_where(lc_class, lc_class == 255))
        np.testing.assert_array_equal(arrays["land_cover_prob"][i], _nan_where(lc_prob, lc_prob == 255))
        # the centre class is what the mart encodes as the authors' lc_cos / lc_sin; probability is /100 there
        assert row["land_cover"] == (None if lc_class[C, C] == 255 else int(lc_class[C, C]))
        np.testing.assert_allclose(np.nan_to_num(row["land_cover_prob"] / 100), s["lc_prob"][C, C], rtol=1e-6)
        np.testing.assert_array_equal(arrays["dem"][i], _nan_where(s["dem"], s["dem"] == -9999))
        # encodings the GBDT reads: day of year, topography at the centre, lat/lon
        for name in ("s2_doy_cos", "s2_doy_sin", "gedi_doy_cos", "gedi_doy_sin"):
            assert row[name] == pytest.approx(s[name][C, C], abs=1e-6), name
        for name in ("slope", "aspect_cos", "aspect_sin"):
            assert row[name] == pytest.approx(s[name][C, C], rel=1e-6, abs=1e-6), name
        if s["lat"] == 0 and row["lat"] != 0:
            # the authors' np.sign(0) pitfall: their latitude collapses to 0, the platform keeps the offset
            zero_decimal += 1
            assert row["lat"] == round(row["lat"])  # integer latitude, signed by the tile's hemisphere
            assert np.sign(row["lat"]) == (1 if s["tile"][2] >= "N" else -1)
            assert row["lon_cos"] == pytest.approx(s["lon_cos"][C, C], abs=1e-6)
            continue
        assert row["lat"] == pytest.approx(float(s["lat"]), abs=1e-5)
        assert row["lon"] == pytest.approx(float(s["lon"]), abs=1e-5)
        for name in ("lat_cos", "lat_sin", "lon_cos", "lon_sin"):
            assert row[name] == pytest.approx(s[name][C, C], abs=1e-6), name
    assert zero_decimal == len(GROUPS)  # one integer latitude per group, each resolved
    assert np.isnan(s2[:, :, :3]).all(axis=(1, 2, 3)).sum() == len(GROUPS)  # the swath edges are nodata


def test_optional_boa_offset_absent_reads_as_zero_like_the_authors(release, ours):
    patches, _ = ours
    no_boa = patches.filter((pl.col("tile") == "19LCK") & (pl.col("source_file") == FILES[0]))
    assert no_boa.height == 11 and no_boa["s2_boa_offset"].to_list() == [0] * 11
    with_boa = patches.filter((pl.col("tile") == "31UFU") & (pl.col("source_file") == FILES[0]))
    assert with_boa["s2_boa_offset"].to_list() == [0, 1, 0, 1, 0, 1, 0]


# --- issue 14: the encodings, against the ported functions on the same input --------------------------------------


def test_day_of_year_encoding_is_the_authors_get_doy():
    """The authors use tm_yday - 1 (days since 1 January); this was one day later before."""
    days = np.array([-500, -107, -106, -1, 0, 1, 258, 259, 625, 990, 1355, 2500])
    cos, sin = transforms.doy_encoding(days)
    for d, c, s in zip(days, cos, sin, strict=True):
        ac, as_ = authors.get_doy(d, (1, 1))
        assert c == pytest.approx(ac[0, 0], abs=1e-12) and s == pytest.approx(as_[0, 0], abs=1e-12), d


def test_topography_is_the_authors_get_topology():
    rng = np.random.default_rng(7)
    ii, jj = np.mgrid[0:P, 0:P]
    dems = [
        (300 + 3 * ii - 2 * jj).astype(np.int16),  # plane
        (1200 + rng.normal(0, 25, (P, P))).astype(np.int16),  # rough
        np.full((P, P), 40, dtype=np.int16),  # flat: atan2(0, 0)
        (50 - 4 * jj).astype(np.int16),
    ]
    for dem in dems:
        slope, aspect_cos, aspect_sin = transforms.topography(dem.astype(np.float32))
        a_slope, a_cos, a_sin = authors.get_topology(dem)
        np.testing.assert_allclose(slope, a_slope, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(aspect_cos, a_cos, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(aspect_sin, a_sin, rtol=1e-12, atol=1e-12)
    # batched (N, H, W) input is the per-patch function applied to each patch
    batch = np.stack(dems).astype(np.float32)
    slope, _, aspect_sin = transforms.topography(batch)
    for k, dem in enumerate(dems):
        np.testing.assert_allclose(slope[k], authors.get_topology(dem)[0], rtol=1e-12)
        np.testing.assert_allclose(aspect_sin[k], authors.get_topology(dem)[2], rtol=1e-12)
