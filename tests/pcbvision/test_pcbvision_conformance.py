"""PCB-Vision conformance: an independently written copy of the published layout, read by our reader and by the
authors' reading logic (`hifexplo/PCBVision` `dataset_functions.read_hsi_cube` / `read_hsi_mask`: the `spectral`
library's `envi.open(header, data file)` + `BipFile.open_memmap`, mask = band 0), side by side.

The fixture is written here by hand, not with `sample.py` or `source.format_envi_header`: its own board ids
(7, 11, 17, 35, 37: test, train, train, none, val), sizes, spectra and header text (keys in another order and
case, `BIP`/`bil` interleave, a big-endian cube, a header offset, a float32 General mask, an int16 Monoseg mask),
with the optional parts present and absent: Monoseg masks on some boards only, no RGB folder at all, header
extensions `.hdr` and `.HDR` on cubes and masks. Also: the spectral continuity rule rejects a cube whose header
names the wrong interleave, which `spectral` reads silently.
"""

import shutil
import warnings
from pathlib import Path

import fsspec
import numpy as np
import pytest

from dagster_project.datasets.pcbvision import assets, checks, sample, source
from dagster_project.settings import SAMPLES_DIR

LOCAL = fsspec.filesystem("file")
SAMPLE = SAMPLES_DIR / "pcbvision"
N_BANDS = 224

# board: (lines, samples, cube header ext, interleave, byte order, header offset, General ext/type, Monoseg)
BOARDS = {
    7: (21, 26, ".hdr", "BIP", 0, 0, (".HDR", 1), (".hdr", 2)),
    11: (24, 19, ".hdr", "bip", 1, 0, (".HDR", 4), None),
    17: (18, 30, ".HDR", "bil", 0, 512, (".hdr", 1), (".HDR", 1)),
    35: (15, 22, ".hdr", "bip", 0, 0, (".HDR", 1), None),
    37: (20, 24, ".hdr", "bip", 0, 0, (".HDR", 1), (".hdr", 1)),
}
ENVI_TYPES = {1: "u1", 2: "i2", 4: "f4"}


def _header(
    lines: int, samples: int, bands: int, dtype_code: int, interleave: str, byte_order: int, offset: int
):
    """ENVI header text as ENVI/Specim software write it: mixed-case keys, braces over several lines."""
    wl = np.linspace(400.1, 1001.7, bands)
    rows = [", ".join(f"{w:.3f}" for w in wl[i : i + 6]) for i in range(0, bands, 6)]
    return (
        "ENVI\n"
        "description = {\n  independent conformance fixture}\n"
        f"Samples = {samples}\n"
        f"Lines   = {lines}\n"
        f"Bands   = {bands}\n"
        f"Header Offset = {offset}\n"
        "File Type = ENVI Standard\n"
        f"Data Type = {dtype_code}\n"
        f"Interleave = {interleave}\n"
        f"Byte Order = {byte_order}\n"
        + ("Wavelength = {\n " + ",\n ".join(rows) + "}\n" if bands > 1 else "band names = {label}\n")
    )


def _write_envi(hdr: Path, arr: np.ndarray, dtype_code: int, interleave: str, byte_order: int, offset: int):
    """`arr` is (lines, samples, bands); stored in the header's interleave and byte order after `offset` bytes."""
    hdr.parent.mkdir(parents=True, exist_ok=True)
    lines, samples, bands = arr.shape
    hdr.write_text(_header(lines, samples, bands, dtype_code, interleave, byte_order, offset))
    order = {"bip": (0, 1, 2), "bil": (0, 2, 1), "bsq": (2, 0, 1)}[interleave.lower()]
    dtype = np.dtype(ENVI_TYPES[dtype_code]).newbyteorder(">" if byte_order else "<")
    Path(str(hdr)[:-4]).write_bytes(
        b"\x00" * offset + np.ascontiguousarray(arr.transpose(order)).astype(dtype).tobytes()
    )


def _board_arrays(board: int, lines: int, samples: int):
    """Smooth reflectance spectra per class (a logistic edge and a broad dip), a per-pixel gain and small noise;
    rectangles of each class on a background; a few 'inscription' pixels that Monoseg labels 0."""
    rng = np.random.default_rng(1000 + board)
    w = np.linspace(0.0, 1.0, N_BANDS)
    base = np.stack(
        [
            0.15 + 0.10 * w,  # others
            0.04 + 0.06 / (1 + np.exp(-(w - 0.7) / 0.05)),  # IC
            0.10 + 0.50 / (1 + np.exp(-(w - 0.35) / 0.04)),  # capacitor
            0.55 - 0.20 * np.exp(-0.5 * ((w - 0.8) / 0.06) ** 2),  # connectors
        ]
    )
    label = np.zeros((lines, samples), np.uint8)
    for cls in (1, 2, 3, 1, 2, 3):
        h, wd = rng.integers(3, 7, 2)
        r, c = rng.integers(0, lines - h), rng.integers(0, samples - wd)
        label[r : r + h, c : c + wd] = cls
    inscription = (label == 1) & (rng.random((lines, samples)) < 0.2)
    mono = np.where(inscription, 0, label).astype(np.uint8)
    gain = rng.normal(1.0, 0.05, (lines, samples, 1))
    cube = base[label] * gain + rng.normal(0, 0.004, (lines, samples, N_BANDS))
    cube[:2, :3] -= 0.3  # a few negative values, as in the real cubes
    on_pcb = np.zeros((lines, samples), bool)
    on_pcb[1:-1, 2:-1] = True
    return cube.astype(np.float32), label, mono, on_pcb


def write_fixture(root: Path, *, with_rgb: bool = False) -> Path:
    from PIL import Image

    for board, (lines, samples, cube_ext, inter, order, offset, (g_ext, g_type), mono) in BOARDS.items():
        cube, label, mono_label, on_pcb = _board_arrays(board, lines, samples)
        _write_envi(root / f"HSI/pcb{board}/pcb{board}{cube_ext}", cube, 4, inter, order, offset)
        _write_envi(root / f"HSI/General_masks/{board}{g_ext}", label[:, :, None], g_type, "bsq", 0, 0)
        if mono is not None:
            m_ext, m_type = mono
            _write_envi(
                root / f"HSI/Monoseg_masks/mono{board}{m_ext}", mono_label[:, :, None], m_type, "bsq", 0, 0
            )
        pcb = root / f"HSI/PCB_Masks/{board}.jpg"
        pcb.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.where(on_pcb, 255, 0).astype(np.uint8)).save(pcb, quality=90)
        if with_rgb:
            (root / "RGB/General").mkdir(parents=True, exist_ok=True)
            rgb = np.clip(cube[:, :, [150, 90, 40]] * 255, 0, 255).astype(np.uint8)
            Image.fromarray(rgb).save(root / f"RGB/{board}.jpg", quality=90)
            Image.fromarray(label).save(root / f"RGB/General/{board}.png")
    return root


@pytest.fixture(scope="module")
def fixture_root(tmp_path_factory) -> Path:
    return write_fixture(tmp_path_factory.mktemp("pcbvision-conformance") / "PCBVision")


def _existing(root: Path, rel: str) -> Path:
    """The file as it exists: the authors' code hard-codes `.hdr` for cubes and Monoseg masks and `.HDR` for
    General masks, which a case-sensitive filesystem only finds when the release spells them that way."""
    for cand in (rel, rel[:-4] + ".hdr", rel[:-4] + ".HDR"):
        if (root / cand).exists():
            return root / cand
    raise FileNotFoundError(rel)


def authors_read_cube(header: Path) -> np.ndarray:
    """`dataset_functions.read_hsi_cube`: envi.open(header, header without its 4-character extension), read
    through `spi.io.bipfile.BipFile.open_memmap` (rows, columns, bands whatever the file's interleave)."""
    from spectral.io import bipfile, envi

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # spectral warns about non-lower-case header keys
        return np.asarray(bipfile.BipFile.open_memmap(envi.open(str(header), str(header)[:-4])))


def authors_read_mask(header: Path) -> np.ndarray:
    """`dataset_functions.read_hsi_mask`: the same, then band 0."""
    return authors_read_cube(header)[:, :, 0]


def test_reader_agrees_with_the_authors_reading_logic(fixture_root):
    root = fixture_root
    assert source.boards_in([str(p.relative_to(root)) for p in root.rglob("*")]) == sorted(BOARDS)
    for board, (lines, samples, *_rest, mono) in BOARDS.items():
        files = source.BoardFiles(board)
        theirs = authors_read_cube(_existing(root, files.cube_hdr))
        raw = source.read_board(
            LOCAL, str(root), board, preprocessing=source.Preprocessing(clip=False, drop_first_bands=0)
        )
        assert raw.shape == theirs.shape == (lines, samples, N_BANDS)
        ours = raw.pixels["spectrum"].to_numpy().reshape(lines, samples, N_BANDS)
        np.testing.assert_array_equal(ours, theirs)
        general = authors_read_mask(_existing(root, files.general_hdr))
        np.testing.assert_array_equal(raw.pixels["label"].to_numpy().reshape(lines, samples), general)
        if mono is None:
            assert raw.pixels["label_monoseg"].null_count() == raw.rows and raw.parts == {
                "monoseg_mask": False
            }
        else:
            theirs_mono = authors_read_mask(_existing(root, files.monoseg_hdr))
            np.testing.assert_array_equal(
                raw.pixels["label_monoseg"].to_numpy().reshape(lines, samples), theirs_mono
            )
            assert raw.parts == {"monoseg_mask": True}
        # the authors' preprocessing (clipping_neg_pos, then slicing(HSI, 10)) equals ours by default
        pre = source.read_board(LOCAL, str(root), board, block_lines=5)
        expected = np.clip(theirs, 0.0, 1.0)[:, :, 10:]
        np.testing.assert_array_equal(
            pre.pixels["spectrum"].to_numpy().reshape(lines, samples, N_BANDS - 10), expected
        )
        assert pre.continuity.passed and pre.continuity.median > 0.95
        assert all(r.passed for r in checks.board_python_rules(pre))
        rgb = source.read_rgb_board(LOCAL, str(root), board)  # no RGB folder in this release
        assert rgb.row is None and rgb.frame().is_empty() and not any(rgb.parts.values())


def test_rgb_parts_are_optional_one_by_one(tmp_path):
    root = write_fixture(tmp_path / "PCBVision", with_rgb=True)
    rgb = source.read_rgb_board(LOCAL, str(root), 11)  # photograph and General mask, no Monoseg mask
    assert rgb.parts == {"rgb_image": True, "rgb_general_mask": True, "rgb_monoseg_mask": False}
    df = rgb.frame()
    assert df.height == 1 and df["monoseg_ic_pixels"].is_null().all()
    _, label, _, _ = _board_arrays(11, 24, 19)
    assert df["general_ic_pixels"].item() == int((label == 1).sum())
    assert all(r.passed for r in checks.rgb_python_rules(rgb))


def _mislabel(root: Path, board: int, interleave: str) -> Path:
    """The header says `interleave`, the bytes stay BIP (same size, so nothing structural fails)."""
    hdr = _existing(root, source.BoardFiles(board).cube_hdr)
    text = hdr.read_text()
    old = next(line for line in text.splitlines() if line.lower().startswith("interleave"))
    hdr.write_text(text.replace(old, f"interleave = {interleave}"))
    return hdr


@pytest.mark.parametrize("interleave", ["bsq", "bil"])
def test_mislabelled_interleave_is_rejected_naming_file_and_figure(tmp_path, interleave):
    root = shutil.copytree(SAMPLE, tmp_path / "src", ignore=shutil.ignore_patterns("README.md"))
    hdr = _mislabel(root, 3, interleave)
    scrambled = authors_read_cube(hdr)  # the authors' reader accepts it silently: right shape, wrong pixels
    good = authors_read_cube(SAMPLE / "HSI/pcb3/pcb3.hdr")
    assert scrambled.shape == good.shape and not np.array_equal(scrambled, good)
    bp = source.read_board(LOCAL, str(root), 3, display_root="raw/pcbvision")
    assert bp.shape == good.shape and not bp.continuity.passed
    (failed,) = [r for r in checks.board_python_rules(bp) if not r.passed]
    assert failed.rule.startswith("spectral continuity") and "raw/pcbvision/HSI/pcb3/pcb3]" in failed.rule
    (example,) = failed.examples
    assert example["file"] == "raw/pcbvision/HSI/pcb3/pcb3" and example["header_interleave"] == interleave
    assert example["median_adjacent_band_correlation"] < source.CONTINUITY_MIN
    assert (
        f"median_adjacent_band_correlation={example['median_adjacent_band_correlation']}" in failed.describe()
    )


def test_sample_and_correct_cubes_pass_spectral_continuity(fixture_root, tmp_path):
    figures = {}
    for board in sample.SAMPLE_BOARDS:
        bp = source.read_board(LOCAL, str(SAMPLE), board)
        figures[board] = bp.continuity.median
        assert bp.continuity.passed and bp.continuity.pixels == bp.rows  # small boards: every pixel sampled
    assert min(figures.values()) > 0.95, figures
    # the same sample board stored correctly in BSQ (header says so) passes with the same figure
    cube = source.open_cube(LOCAL, str(SAMPLE / "HSI/pcb3/pcb3.hdr")).read_all()
    root = shutil.copytree(SAMPLE, tmp_path / "src", ignore=shutil.ignore_patterns("README.md"))
    (root / "HSI/pcb3/pcb3").write_bytes(np.ascontiguousarray(cube.transpose(2, 0, 1)).tobytes())
    _mislabel(root, 3, "bsq")
    bsq = source.read_board(LOCAL, str(root), 3)
    assert bsq.continuity.passed and bsq.continuity.median == pytest.approx(figures[3], abs=1e-6)


def test_continuity_sample_is_deterministic_and_spread():
    idx = source.continuity_pixel_indices(1100 * 1024)
    assert len(idx) == source.CONTINUITY_PIXELS and idx[0] == 0 and idx[-1] == 1100 * 1024 - 1
    assert np.array_equal(idx, source.continuity_pixel_indices(1100 * 1024))
    assert np.array_equal(source.continuity_pixel_indices(50), np.arange(50))
    assert source.adjacent_band_correlation(np.zeros((2, 5))) is None  # too few pixels to measure


@pytest.mark.slow
def test_conformance_fixture_runs_end_to_end(materialize_dataset, lake_local, fixture_root):
    """No RGB folder, Monoseg masks on some boards only, .hdr/.HDR in both places: the whole pipeline runs."""
    assert assets.discover_partitions(str(fixture_root)) == [source.partition_key(b) for b in sorted(BOARDS)]
    m = materialize_dataset("pcbvision", lake_local, source=str(fixture_root))
    assert m.success, m.step_failures()
    assert all(e.passed for e in m.evaluations()), [e.check_name for e in m.evaluations() if not e.passed]
    (ev,) = m.materializations("pcbvision_model_evaluation")
    assert ev.metadata["test_board_ids"].value == [7]
    import duckdb

    with duckdb.connect(m.warehouse_path, read_only=True) as con:
        stats = con.sql("select board, rgb_split, has_monoseg_mask from pcbvision_board_stats").fetchall()
    assert stats == [(b, "unknown", BOARDS[b][-1] is not None) for b in sorted(BOARDS)]
