"""PCB-Vision readers: format fidelity against the authors' library (spectral), layout, splits, bad inputs."""

import filecmp
import json
import warnings
from pathlib import Path

import fsspec
import numpy as np
import pytest

from dagster_project.datasets.pcbvision import sample, source
from dagster_project.errors import SourceFormatError
from dagster_project.settings import SAMPLES_DIR

SAMPLE = SAMPLES_DIR / "pcbvision"
LOCAL = fsspec.filesystem("file")


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> Path:
    dest = tmp_path_factory.mktemp("pcbvision")
    sample.write_sample(dest)
    return dest


def copy_tree(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("README.md"))
    return dst


def test_committed_sample_is_write_sample_output(written):
    cmp = filecmp.dircmp(written, SAMPLE, ignore=["README.md"])

    def differences(c):
        out = c.left_only + c.right_only + c.diff_files + c.funny_files
        return out + [d for sub in c.subdirs.values() for d in differences(sub)]

    assert differences(cmp) == []
    # dircmp compares sizes and times shallowly; compare bytes of every file too
    for p in written.rglob("*"):
        if p.is_file():
            assert p.read_bytes() == (SAMPLE / p.relative_to(written)).read_bytes(), p


def test_sample_has_every_file_of_the_published_layout():
    for board in sample.SAMPLE_BOARDS:
        for rel in source.BoardFiles(board).all():
            assert (SAMPLE / rel).is_file(), rel
    assert (SAMPLE / "HSI/General_masks/1.HDR").is_file()  # upper case, as published
    assert not (SAMPLE / "HSI/General_masks/1.hdr").exists()
    rels = [str(p.relative_to(SAMPLE)) for p in SAMPLE.rglob("*.hdr")]
    assert source.boards_in(rels) == sorted(sample.SAMPLE_BOARDS)
    total = sum(p.stat().st_size for p in SAMPLE.rglob("*") if p.is_file())
    assert total < 2_500_000


def test_reader_matches_the_authors_spectral_reader():
    from spectral.io import bipfile, envi

    for board in (1, 18):
        files = source.BoardFiles(board)
        hdr = str(SAMPLE / files.cube_hdr)
        theirs = bipfile.BipFile.open_memmap(envi.open(hdr, hdr[:-4]))
        ours = source.open_cube(LOCAL, hdr)
        assert ours.shape == theirs.shape
        np.testing.assert_array_equal(ours.read_all(), np.asarray(theirs))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # spectral warns about the Title-Case keys of the General masks
            mhdr = str(SAMPLE / files.general_hdr)
            their_mask = envi.open(mhdr, mhdr[:-4]).open_memmap()[:, :, 0]
        np.testing.assert_array_equal(source.read_mask(LOCAL, mhdr), their_mask)


def test_header_fields_and_wavelengths():
    img = source.open_cube(LOCAL, str(SAMPLE / "HSI/pcb1/pcb1.hdr"))
    h = img.header
    assert (h.bands, h.data_type, h.interleave, h.byte_order, h.header_offset) == (224, 4, "bip", 0, 0)
    assert len(h.wavelengths) == 224 and 395 < h.wavelengths[0] < 400 and 1000 < h.wavelengths[-1] < 1005
    assert np.all(np.diff(h.wavelengths) > 0)
    mask = source.EnviImage(LOCAL, str(SAMPLE / "HSI/General_masks/1.HDR"))
    assert mask.header.fields["band names"] == "Mask"  # Title-Case keys were read case-insensitively
    assert mask.header.shape == (h.lines, h.samples, 1)


def test_sample_has_the_authors_noise_and_real_signal():
    cube = source.open_cube(LOCAL, str(SAMPLE / "HSI/pcb3/pcb3.hdr")).read_all()
    mask = source.read_mask(LOCAL, str(SAMPLE / "HSI/General_masks/3.HDR"))
    assert (cube < 0).any(), "the real cubes contain negative values"
    band_to_band = np.diff(cube, axis=2).std(axis=(0, 1))  # noise shows as jumps between neighbouring bands
    assert band_to_band[:9].mean() > 5 * band_to_band[10:].mean(), "the first 10 bands are noisy"
    assert set(np.unique(mask)) == {0, 1, 2, 3}
    means = {c: cube[mask == c][:, 10:].mean(axis=0) for c in range(4)}
    # class mean spectra differ by far more than the noise, so a spectral classifier has something to learn
    assert min(np.abs(means[a] - means[b]).mean() for a in range(4) for b in range(a + 1, 4)) > 0.03
    mono = source.read_mask(LOCAL, str(SAMPLE / "HSI/Monoseg_masks/mono3.hdr"))
    assert ((mono == 0) & (mask == 1)).any() and not ((mono != 0) & (mono != mask)).any()


@pytest.mark.parametrize("interleave", ["bil", "bsq"])
def test_bil_and_bsq_read_as_bip(tmp_path, interleave):
    cube = source.open_cube(LOCAL, str(SAMPLE / "HSI/pcb2/pcb2.hdr")).read_all()
    h = source.open_cube(LOCAL, str(SAMPLE / "HSI/pcb2/pcb2.hdr")).header
    order = {"bil": (0, 2, 1), "bsq": (2, 0, 1)}[interleave]
    (tmp_path / "c").write_bytes(cube.transpose(order).astype(">f4").tobytes())
    (tmp_path / "c.hdr").write_text(
        source.format_envi_header(
            samples=h.samples, lines=h.lines, bands=224, data_type=4, interleave=interleave, byte_order=1
        )
    )
    img = source.open_cube(LOCAL, str(tmp_path / "c.hdr"))
    np.testing.assert_array_equal(img.read_all(), cube)
    np.testing.assert_array_equal(img.read_lines(3, 7), cube[3:7])


def test_remote_filesystem_reads_same_blocks_as_memmap():
    """Object stores cannot be memory-mapped: ranged reads of whole lines must give the same arrays."""
    mem = fsspec.filesystem("memory")
    for rel in ("HSI/pcb5/pcb5.hdr", "HSI/pcb5/pcb5"):
        mem.pipe(f"/pcbv/{rel}", (SAMPLE / rel).read_bytes())
    local = source.open_cube(LOCAL, str(SAMPLE / "HSI/pcb5/pcb5.hdr"))
    remote = source.open_cube(mem, "/pcbv/HSI/pcb5/pcb5.hdr")
    assert local.is_local and not remote.is_local
    for (s1, b1), (s2, b2) in zip(local.iter_blocks(4), remote.iter_blocks(4), strict=True):
        assert s1 == s2
        np.testing.assert_array_equal(b1, b2)


def test_preprocessing_clips_and_drops_first_bands():
    block = np.linspace(-0.5, 1.5, 2 * 3 * 224, dtype=np.float32).reshape(2, 3, 224)
    out = source.Preprocessing().apply(block)
    assert out.shape == (2, 3, 214) and out.min() == 0.0 and out.max() == 1.0
    np.testing.assert_array_equal(out, np.clip(block[:, :, 10:], 0, 1))
    raw = source.Preprocessing(clip=False, drop_first_bands=0).apply(block)
    np.testing.assert_array_equal(raw, block)


def test_integer_cube_with_reflectance_scale_factor(tmp_path):
    h = source.parse_envi_header(
        source.format_envi_header(
            samples=2, lines=1, bands=224, data_type=12, extra={"reflectance scale factor": "10000"}
        ),
        "x.hdr",
    )
    block = np.full((1, 2, 224), 5000, np.uint16)
    np.testing.assert_allclose(source.to_reflectance(block, h), 0.5)


def test_official_hsi_split_and_documented_rgb_split():
    sizes = {k: len(v) for k, v in source.HSI_SPLITS.items()}
    assert sizes == {"train": 18, "val": 3, "test": 30}
    every = [b for v in source.HSI_SPLITS.values() for b in v]
    assert len(set(every)) == 51 and set(range(1, 54)) - set(every) == {4, 35}
    assert source.hsi_split(4) == source.hsi_split(35) == "none"
    assert [source.hsi_split(b) for b in (1, 18, 2)] == ["train", "val", "test"]
    rgb = source.rgb_splits()
    assert {k: len(v) for k, v in rgb.items()} == {"train": 33, "val": 9, "test": 11}
    assert sorted(b for v in rgb.values() for b in v) == list(range(1, 54))


def test_partition_keys_round_trip():
    assert source.partition_key(18) == "pcb18" and source.board_of("pcb18") == 18
    with pytest.raises(ValueError, match="pcb<N>"):
        source.board_of("18")


# ------------------------------------------------------------------------------------------ bad input


def rule_of(exc_info) -> str:
    return exc_info.value.rule


def test_header_size_disagreeing_with_data_file(tmp_path):
    root = copy_tree(SAMPLE, tmp_path / "src")
    hdr = root / "HSI/pcb1/pcb1.hdr"
    hdr.write_text(hdr.read_text().replace("lines = 13", "lines = 14"))
    with pytest.raises(SourceFormatError) as e:
        source.open_cube(LOCAL, str(hdr))
    assert rule_of(e) == "header size matches data file"
    assert "HSI/pcb1/pcb1" in str(e.value) and "14 lines" in str(e.value)


def test_truncated_data_file(tmp_path):
    root = copy_tree(SAMPLE, tmp_path / "src")
    data = root / "HSI/pcb2/pcb2"
    data.write_bytes(data.read_bytes()[:-896])
    with pytest.raises(SourceFormatError, match="header size matches data file") as e:
        source.open_cube(LOCAL, str(root / "HSI/pcb2/pcb2.hdr"))
    assert e.value.file.endswith("HSI/pcb2/pcb2")


@pytest.mark.parametrize(
    ("old", "new", "rule"),
    [
        ("interleave = bip", "interleave = bpi", "supported ENVI interleave"),
        ("data type = 4", "data type = 6", "supported ENVI data type"),
        ("bands = 224", "bands = 220", "one wavelength per band"),
        ("samples = 19\n", "", "required ENVI header keys present"),
        ("ENVI\n", "NOT ENVI\n", "ENVI header starts with 'ENVI'"),
    ],
)
def test_bad_cube_headers(tmp_path, old, new, rule):
    root = copy_tree(SAMPLE, tmp_path / "src")
    hdr = root / "HSI/pcb1/pcb1.hdr"
    text = hdr.read_text()
    assert old in text
    hdr.write_text(text.replace(old, new, 1))
    with pytest.raises(SourceFormatError) as e:
        source.open_cube(LOCAL, str(hdr))
    assert rule_of(e) == rule and "pcb1.hdr" in e.value.file


def test_wrong_band_count(tmp_path):
    cube = np.zeros((2, 3, 100), "<f4")
    (tmp_path / "c").write_bytes(cube.tobytes())
    (tmp_path / "c.hdr").write_text(source.format_envi_header(samples=3, lines=2, bands=100, data_type=4))
    with pytest.raises(SourceFormatError, match="cube has 224 bands"):
        source.open_cube(LOCAL, str(tmp_path / "c.hdr"))


def test_missing_mask(tmp_path):
    root = copy_tree(SAMPLE, tmp_path / "src")
    (root / "HSI/General_masks/5.HDR").unlink()
    with pytest.raises(SourceFormatError) as e:
        source.read_mask(LOCAL, str(root / "HSI/General_masks/5.HDR"))
    assert rule_of(e) == "file present" and e.value.file.endswith("General_masks/5.HDR")
    (root / "HSI/Monoseg_masks/mono5").unlink()
    with pytest.raises(SourceFormatError, match="file present") as e:
        source.read_mask(LOCAL, str(root / "HSI/Monoseg_masks/mono5.hdr"))
    assert e.value.file.endswith("Monoseg_masks/mono5")


def test_mask_value_7_is_read_for_validation_to_report():
    """A 7 is a whole number that fits a byte: the reader returns it and the pixel table's check names it."""
    mask = np.array([[0, 7]], np.uint8)
    assert set(np.unique(mask)) - set(source.CLASSES) == {7}


def test_float_mask_with_fractional_value(tmp_path):
    (tmp_path / "m").write_bytes(np.array([[0.0, 2.5]], "<f4").tobytes())
    (tmp_path / "m.hdr").write_text(source.format_envi_header(samples=2, lines=1, bands=1, data_type=4))
    with pytest.raises(SourceFormatError, match="mask values are whole numbers") as e:
        source.read_mask(LOCAL, str(tmp_path / "m.hdr"))
    assert "sample 1" in str(e.value)


@pytest.mark.parametrize("damage", ["truncated", "garbage", "png_named_jpg"])
def test_corrupt_jpeg(damage):
    good = (SAMPLE / "HSI/PCB_Masks/1.jpg").read_bytes()
    bad = {
        "truncated": good[: len(good) // 2],
        "garbage": b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4,
        "png_named_jpg": (SAMPLE / "RGB/General/1.png").read_bytes(),
    }[damage]
    with pytest.raises(SourceFormatError) as e:
        source.decode_pcb_mask(bad, "HSI/PCB_Masks/1.jpg")
    assert e.value.rule in ("decodable JPEG", "file is a JPEG") and e.value.file == "HSI/PCB_Masks/1.jpg"
    with pytest.raises(SourceFormatError):
        source.decode_rgb(bad, "RGB/1.jpg")


def test_images_decode_with_expected_shapes():
    cube_h = source.open_cube(LOCAL, str(SAMPLE / "HSI/pcb1/pcb1.hdr")).header
    pcb = source.decode_pcb_mask((SAMPLE / "HSI/PCB_Masks/1.jpg").read_bytes(), "1.jpg")
    assert pcb.shape == (cube_h.lines, cube_h.samples) and pcb.dtype == bool and 0 < pcb.mean() < 1
    rgb = source.decode_rgb((SAMPLE / "RGB/1.jpg").read_bytes(), "RGB/1.jpg")
    gen = source.decode_png_mask((SAMPLE / "RGB/General/1.png").read_bytes(), "RGB/General/1.png")
    assert rgb.shape == (*gen.shape, 3) and set(np.unique(gen)) <= {0, 1, 2, 3}


# ------------------------------------------------------------------------------------------ remote record


def test_record_api_urls():
    assert source.record_api_url(source.ZENODO_RECORD_URL) == "https://zenodo.org/api/records/10617721"
    assert source.record_api_url(source.RODARE_RECORD_URL) == "https://rodare.hzdr.de/api/records/2704"
    assert source.record_api_url("http://127.0.0.1:8000/records/7/") == "http://127.0.0.1:8000/api/records/7"
    with pytest.raises(ValueError, match="record URL"):
        source.record_api_url("https://example.org/files/x.zip")


def test_parse_record_files_in_both_invenio_shapes():
    content = "https://zenodo.org/api/records/10617721/files/PCBVision.zip/content"
    entry = {"key": "PCBVision.zip", "size": 10, "checksum": "md5:ABC", "links": {"content": content}}
    rdm = {"files": {"entries": {"PCBVision.zip": entry}}}
    legacy = {"files": [{"key": "PCBVision.zip", "size": 10, "checksum": "md5:abc",
                         "links": {"self": "https://rodare.hzdr.de/api/files/u/PCBVision.zip"}}]}  # fmt: skip
    for doc in (rdm, legacy):
        (f,) = source.parse_record_files(json.dumps(doc), "record.json")
        assert (f.key, f.size, f.md5) == ("PCBVision.zip", 10, "abc") and f.url.startswith("https://")
    with pytest.raises(SourceFormatError, match="record lists its files"):
        source.parse_record_files("{}", "record.json")
    with pytest.raises(SourceFormatError, match="record metadata is JSON"):
        source.parse_record_files("<html>", "record.json")


def test_find_layout_root_inside_archive():
    names = [
        "PCBVision/README.txt",
        "PCBVision/HSI/pcb1/pcb1.hdr",
        "PCBVision/HSI/pcb1/pcb1",
        "PCBVision/RGB/1.jpg",
    ]
    assert source.find_layout_root(names) == "PCBVision/"
    assert source.find_layout_root(["HSI/pcb2/pcb2.hdr"]) == ""
    with pytest.raises(SourceFormatError, match="archive holds the PCB-Vision layout"):
        source.find_layout_root(["a/b.txt"])


# ------------------------------------------------------------------------------------------ board tables


def test_read_board_pixel_table():
    bp = source.read_board(LOCAL, str(SAMPLE), 1, display_root="raw/pcbvision")
    df = bp.pixels
    lines, samples, bands = bp.shape
    assert df.height == lines * samples and bands == 224
    assert df.schema["spectrum"].size == 214 and df["spectrum"].arr.min().min() >= 0.0
    assert df["spectrum"].arr.max().max() <= 1.0
    mask = source.read_mask(LOCAL, str(SAMPLE / "HSI/General_masks/1.HDR"))
    np.testing.assert_array_equal(df["label"].to_numpy().reshape(lines, samples), mask)
    assert df["source_row"].to_list() == list(range(df.height)) and set(df["hsi_split"]) == {"train"}
    assert df["on_pcb"].any() and not df["on_pcb"].all()
    cube = source.open_cube(LOCAL, str(SAMPLE / "HSI/pcb1/pcb1.hdr")).read_all()
    np.testing.assert_allclose(
        df.filter(line=2, sample=5)["spectrum"][0].to_numpy(), np.clip(cube[2, 5, 10:], 0, 1)
    )
    assert bp.files["general_mask"] == "raw/pcbvision/HSI/General_masks/1.HDR"
    assert bp.raw_negative_values > 0 and all(v.count == 0 for v in bp.mask_values.values())
    one_line = source.read_board(LOCAL, str(SAMPLE), 1, block_lines=1)
    assert one_line.pixels.equals(df)
    raw = source.read_board(
        LOCAL, str(SAMPLE), 1, preprocessing=source.Preprocessing(clip=False, drop_first_bands=0)
    )
    assert raw.pixels.schema["spectrum"].size == 224


def test_streamed_board_table_is_the_board_read_whole_with_compact_spectra(tmp_path):
    """What the board asset writes (`write_board_table`, a block of lines at a time) is exactly `read_board`'s
    table, a row group per block; the spectrum is stored non-null and byte-stream-split, with statistics on the
    narrow columns only, and DuckDB (dbt) reads it back, NaN included."""
    import duckdb
    import pyarrow.parquet as pq

    from dagster_project.datasets.pcbvision import assets
    from dagster_project.storage import Lake

    root = copy_tree(SAMPLE, tmp_path / "src")
    cube_file = root / "HSI/pcb5/pcb5"
    cube = np.fromfile(cube_file, "<f4").reshape(13, 16, 224)
    cube[6, 2, 100] = np.nan
    cube.tofile(cube_file)
    lake = Lake(root=str(tmp_path / "lake"))
    bp = assets.write_board_table(lake, "t/data.parquet", source.BoardReader(LOCAL, str(root), 5), 4)
    whole = source.read_board(LOCAL, str(root), 5)
    df = lake.read_parquet("t/data.parquet")
    assert df.drop("spectrum").equals(whole.pixels.drop("spectrum")) and bp.rows == df.height == 13 * 16
    np.testing.assert_array_equal(df["spectrum"].to_numpy(), whole.pixels["spectrum"].to_numpy())
    assert bp.nonfinite.count == 1 and df.schema["spectrum"] == whole.pixels.schema["spectrum"]
    path = lake.path("t/data.parquet")
    meta = pq.ParquetFile(path).metadata
    assert meta.num_row_groups == 4  # 13 lines in blocks of 4
    leaf = {meta.schema.column(i).path: i for i in range(meta.num_columns)}
    spectrum = meta.row_group(0).column(leaf[assets.SPECTRUM_LEAF])
    assert "BYTE_STREAM_SPLIT" in spectrum.encodings and spectrum.statistics is None
    assert meta.row_group(0).column(leaf["line"]).statistics.has_min_max
    assert not pq.read_schema(path).field("spectrum").nullable
    nan_rows = duckdb.sql(
        f"select line, sample from read_parquet('{path}') where isnan(spectrum[91])"  # raw band 100
    ).fetchall()
    assert nan_rows == [(6, 2)]


def test_mask_value_7_and_nonfinite_spectra_are_reported_with_file_line_sample(tmp_path):
    root = copy_tree(SAMPLE, tmp_path / "src")
    mask_file = root / "HSI/General_masks/5"
    mask = np.fromfile(mask_file, np.uint8).reshape(13, 16)
    mask[3, 4] = 7
    mask.tofile(mask_file)
    cube_file = root / "HSI/pcb5/pcb5"
    cube = np.fromfile(cube_file, "<f4").reshape(13, 16, 224)
    cube[6, 2, 100] = np.nan
    cube.tofile(cube_file)
    bp = source.read_board(LOCAL, str(root), 5, display_root="raw/pcbvision")
    v = bp.mask_values["HSI/General_masks/5"]
    assert v.count == 1
    assert v.examples == [{"file": "raw/pcbvision/HSI/General_masks/5", "line": 3, "sample": 4, "value": 7}]
    assert bp.mask_values["HSI/Monoseg_masks/mono5"].count == 0
    assert bp.nonfinite.count == 1 and bp.nonfinite.examples[0]["line"] == 6
    assert bp.nonfinite.examples[0]["sample"] == 2 and bp.nonfinite.file == "raw/pcbvision/HSI/pcb5/pcb5"


def test_mask_shape_must_match_cube(tmp_path):
    root = copy_tree(SAMPLE, tmp_path / "src")
    hdr = root / "HSI/Monoseg_masks/mono2.hdr"
    hdr.write_text(
        hdr.read_text().replace("samples = 17", "samples = 14").replace("lines = 14", "lines = 17")
    )
    with pytest.raises(SourceFormatError) as e:
        source.read_board(LOCAL, str(root), 2)
    assert e.value.rule == "mask shape = cube shape" and "mono2.hdr" in e.value.file


def test_missing_pcb_mask_and_corrupt_pcb_mask_jpeg(tmp_path):
    root = copy_tree(SAMPLE, tmp_path / "src")
    jpg = root / "HSI/PCB_Masks/8.jpg"
    jpg.write_bytes(jpg.read_bytes()[:100])
    with pytest.raises(SourceFormatError, match="decodable JPEG") as e:
        source.read_board(LOCAL, str(root), 8)
    assert e.value.file.endswith("HSI/PCB_Masks/8.jpg")
    jpg.unlink()
    with pytest.raises(SourceFormatError, match="file present"):
        source.read_board(LOCAL, str(root), 8)


def test_read_rgb_board_and_corrupt_rgb_jpeg(tmp_path):
    r = source.read_rgb_board(LOCAL, str(SAMPLE), 3)
    assert (r.row["rgb_split"], r.row["hsi_split"]) == ("val", "train")
    assert r.row["general_ic_pixels"] > r.row["monoseg_ic_pixels"] > 0  # inscriptions are IC only in General
    root = copy_tree(SAMPLE, tmp_path / "src")
    (root / "RGB/3.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(SourceFormatError, match="decodable JPEG") as e:
        source.read_rgb_board(LOCAL, str(root), 3, display_root="raw/pcbvision")
    assert e.value.file == "raw/pcbvision/RGB/3.jpg"


@pytest.mark.parametrize("kind", ["zip", "tar"])
def test_extract_layout_from_archive_resumes_and_refuses_escapes(tmp_path, kind):
    import shutil
    import tarfile
    import zipfile

    staged = tmp_path / "staged" / "PCBVision"
    copy_tree(SAMPLE, staged)
    archive = str(tmp_path / f"PCBVision.{kind}")
    if kind == "zip":
        shutil.make_archive(archive[:-4], "zip", tmp_path / "staged")
    else:
        with tarfile.open(archive, "w") as t:
            t.add(staged, arcname="PCBVision")
    root = source.extract_layout(archive, str(tmp_path / "out"))
    assert root == str((tmp_path / "out" / "PCBVision").resolve())
    assert (Path(root) / "HSI/General_masks/1.HDR").read_bytes() == (
        SAMPLE / "HSI/General_masks/1.HDR"
    ).read_bytes()
    before = (Path(root) / "HSI/pcb1/pcb1").stat().st_mtime_ns
    assert source.extract_layout(archive, str(tmp_path / "out")) == root  # rerun: nothing rewritten
    assert (Path(root) / "HSI/pcb1/pcb1").stat().st_mtime_ns == before
    if kind == "zip":
        evil = str(tmp_path / "evil.zip")
        with zipfile.ZipFile(evil, "w") as z:
            z.writestr("HSI/pcb1/pcb1.hdr", "ENVI\n")
            z.writestr("../outside.txt", "x")
        with pytest.raises(SourceFormatError, match="stay inside the target folder"):
            source.extract_layout(evil, str(tmp_path / "out2"))


def test_every_layout_file_maps_to_its_board():
    for board in (1, 18, 53):
        assert {source.board_of_file(rel) for rel in source.BoardFiles(board).all()} == {board}
    assert source.board_of_file("PCBVision/HSI/General_masks/7.HDR") == 7
    assert source.board_of_file("README.md") is None and source.board_of_file("PCBVision.zip") is None
