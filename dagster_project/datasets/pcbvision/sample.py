"""Synthetic PCB-Vision sample in the published on-disk layout (see `source.py`), deterministic byte for byte.

Each board is a conveyor-belt background with a green PCB on it, carrying rectangular components: ICs
(black epoxy with light inscriptions), capacitors (ceramic, red-brown) and connectors (beige plastic). Every
material has its own VNIR reflectance curve; pixels get an illumination gain, band noise and a 3x3 optical
blur (mixed pixels at every edge). The first 10 bands are far noisier than the rest and dark pixels dip below
zero, as the authors describe for the Specim FX10 cubes. 'General' masks label inscriptions as IC; 'Monoseg'
masks label only the main material (inscriptions -> 0), the paper's definition of the two ground truths.

Board numbers are real ones, so the authors' split lists apply by board id. `scale` multiplies the number of
lines of every board (and the number of components), for benchmarks.
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np

from dagster_project.datasets.pcbvision.source import N_BANDS, BoardFiles, data_path_for, format_envi_header

# train 1, 3, 8; val 18; test 2, 5; board 4 is in no split (as in the real data).
SAMPLE_BOARDS = (1, 2, 3, 4, 5, 8, 18)
# Specim FX10 VNIR: 224 bands over about 400-1000 nm.
WAVELENGTHS = np.round(np.linspace(397.32, 1003.58, N_BANDS), 2)
RGB_FACTOR = 3  # the RGB photographs have a higher spatial resolution than the cubes
NOISY_BANDS = 10

BELT, SOLDER, IC, CAP, CONN, INK = range(6)
MATERIAL_CLASS = {BELT: 0, SOLDER: 0, IC: 1, CAP: 2, CONN: 3, INK: 1}
MATERIAL_CLASS_LUT = np.array([MATERIAL_CLASS[m] for m in range(len(MATERIAL_CLASS))], np.uint8)


def material_spectra(w: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(6, bands) reflectance curves; small per-board variations so boards differ like real ones do."""
    x = (w - 400.0) / 600.0

    def sig(center, width):
        return 1.0 / (1.0 + np.exp(-(w - center) / width))

    def gauss(center, width):
        return np.exp(-0.5 * ((w - center) / width) ** 2)

    j = rng.normal(0, 1, 6)
    belt = 0.10 + 0.01 * j[0] + 0.02 * x  # grey rubber conveyor
    solder = (
        0.05 + (0.20 + 0.03 * j[1]) * gauss(545 + 8 * j[1], 35) + 0.40 * sig(705, 18)
    )  # green solder mask
    ic = 0.035 + 0.005 * j[2] + 0.05 * sig(800, 60)  # black epoxy, slight NIR rise
    cap = 0.08 + (0.45 + 0.04 * j[3]) * sig(590 + 10 * j[3], 25) - 0.10 * gauss(900, 60)  # ceramic, red-brown
    conn = 0.50 + 0.03 * j[4] + 0.20 * x - 0.12 * gauss(930, 25)  # beige nylon, absorption near 930 nm
    ink = 0.55 + 0.02 * j[5] + 0.05 * x  # white inscription on ICs
    return np.stack([belt, solder, ic, cap, conn, ink]).astype(np.float32)


def _place(free: np.ndarray, h: int, w: int, rng: np.random.Generator) -> tuple[int, int] | None:
    """Top-left corner of a free h x w rectangle (with a 1-pixel gap), or None."""
    rows, cols = free.shape
    for _ in range(200):
        r, c = int(rng.integers(0, rows - h + 1)), int(rng.integers(0, cols - w + 1))
        if free[max(r - 1, 0) : r + h + 1, max(c - 1, 0) : c + w + 1].all():
            return r, c
    return None


def board_materials(
    board: int, lines: int, samples: int, scale: int, rng: np.random.Generator, size: int = 1
):
    """Material map (lines, samples) and the PCB foreground mask. `size` multiplies the components' sides
    (a full-size board has components of tens to hundreds of pixels, like the real ones)."""
    mat = np.full((lines, samples), BELT, np.uint8)
    top, left = 1, 1 + board % 2
    pcb = np.zeros((lines, samples), bool)
    pcb[top : lines - 1, left : samples - 1] = True
    mat[pcb] = SOLDER
    free = pcb.copy()
    free[[top, lines - 2], :] = False  # keep components off the board edge
    # Largest first, so that every board gets each kind of component.
    layout = [(CONN, (2, 2), (4, 6)), (IC, (3, 4), (4, 5)), (IC, (3, 4), (3, 5))] + [
        (CAP, (2, 2), (2, 3))
    ] * 3
    for kind, hr, wr in layout * scale:
        h, w = int(rng.integers(hr[0], hr[1] + 1)) * size, int(rng.integers(wr[0], wr[1] + 1)) * size
        if rng.random() < 0.5:
            h, w = w, h
        at = _place(free, h, w, rng)
        if at is None:
            continue
        r, c = at
        mat[r : r + h, c : c + w] = kind
        free[r : r + h, c : c + w] = False
        if kind == IC and h >= 3 and w >= 3:  # a line of light lettering inside the package
            if w >= h:
                mat[r + h // 2, c + 1 : c + w - 1] = INK
            else:
                mat[r + 1 : r + h - 1, c + w // 2] = INK
    return mat, pcb


def render_cube_blocks(
    mat: np.ndarray, spectra: np.ndarray, rng: np.random.Generator, block_lines: int | None = None
):
    """Noisy, slightly blurred reflectance cube (lines, samples, bands) float32, `block_lines` lines at a time
    (all at once by default), so a full-size board never has to be rendered in memory whole. The blur reads one
    line of the material map beyond each block; each block draws its gain and noise in turn from `rng`."""
    lines = mat.shape[0]
    step = block_lines or lines
    for r0 in range(0, lines, step):
        r1 = min(r0 + step, lines)
        ext = mat[max(r0 - 1, 0) : min(r1 + 1, lines)]
        ext = np.pad(ext, ((1 if r0 == 0 else 0, 1 if r1 == lines else 0), (1, 1)), mode="edge")
        padded = spectra[ext]  # (n + 2, samples + 2, bands)
        n, samples = r1 - r0, mat.shape[1]
        clean = padded[1 : 1 + n, 1 : 1 + samples]
        neighbours = sum(
            padded[1 + dr : 1 + dr + n, 1 + dc : 1 + dc + samples]
            for dr in (-1, 0, 1)
            for dc in (-1, 0, 1)
            if (dr, dc) != (0, 0)
        )
        blurred = 0.6 * clean + 0.4 * neighbours / 8.0
        del padded, neighbours
        gain = rng.normal(1.0, 0.06, (n, samples))[:, :, None].astype(np.float32)
        # Band noise of about 1% of the signal (the FX10's SNR is a few hundred to one): small next to the
        # illumination gain, which is common to all bands, so neighbouring bands stay strongly correlated
        # across pixels (median adjacent-band correlation ~0.99, also on a full-size board of mostly solder).
        noise = rng.normal(0.0, 1.0, clean.shape).astype(np.float32) * (0.002 + 0.01 * blurred)
        cube = blurred * gain + noise
        del noise
        cube[:, :, :NOISY_BANDS] += rng.normal(0.0, 0.25, cube[:, :, :NOISY_BANDS].shape)
        yield cube.astype("<f4")


def render_cube(mat: np.ndarray, spectra: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Noisy, slightly blurred reflectance cube (lines, samples, bands) float32."""
    return next(render_cube_blocks(mat, spectra, rng))


def _jpeg(arr: np.ndarray, mode: str, quality: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(arr, mode=mode).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def _png(arr: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(arr, mode="L").save(buf, format="PNG")
    return buf.getvalue()


def _rgb_lines(cube: np.ndarray) -> np.ndarray:
    """Photograph colours (lines, samples, 3) uint8 of a block of cube lines, at the cube's resolution."""

    def band_mean(lo, hi):
        sel = (WAVELENGTHS >= lo) & (WAVELENGTHS <= hi)
        return cube[:, :, sel].mean(axis=2)

    rgb = np.stack([band_mean(600, 680), band_mean(510, 580), band_mean(430, 490)], axis=-1)
    return np.clip(rgb * 1.8 * 255.0, 0, 255).astype(np.uint8)


def _upsample(rgb: np.ndarray) -> np.ndarray:
    return np.kron(rgb, np.ones((RGB_FACTOR, RGB_FACTOR, 1), np.uint8))


def board_size(board: int, scale: int) -> tuple[int, int]:
    """(lines, samples): boards differ in size, as the real cubes do."""
    return (12 + board % 4) * scale, 16 + (board * 3) % 5


def write_board(
    dest: Path,
    board: int,
    *,
    scale: int = 1,
    seed: int = 0,
    shape: tuple[int, int] | None = None,
    block_lines: int | None = None,
) -> None:
    """Write one board's files. `shape` (lines, samples) overrides the sample's small sizes, e.g. (1100, 1024)
    for a full-size board; `block_lines` renders and writes the cube that many lines at a time (memory stays
    at a block, and the bytes differ from an all-at-once render, deterministically). With `shape`, the
    components grow with the board (sides x samples // 20)."""
    rng = np.random.default_rng([seed, board])
    lines, samples = shape or board_size(board, scale)
    spectra = material_spectra(WAVELENGTHS, rng)
    size = 1 if shape is None else max(1, samples // 20)
    mat, pcb = board_materials(board, lines, samples, scale, rng, size)
    general = MATERIAL_CLASS_LUT[mat]
    monoseg = np.where(mat == INK, 0, general).astype(np.uint8)
    files = BoardFiles(board)

    def target(rel: str) -> Path:
        p = dest / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def write(rel: str, data: bytes) -> None:
        target(rel).write_bytes(data)

    desc = f"PCB-Vision synthetic sample, board {board} (Specim FX10 VNIR layout)"
    cube_header = format_envi_header(
        samples=samples, lines=lines, bands=N_BANDS, data_type=4, description=desc, wavelengths=WAVELENGTHS,
        extra={"sensor type": "Specim FX10", "default bands": "{114, 59, 21}"},
    )  # fmt: skip
    write(files.cube_hdr, cube_header.encode())
    rgb_lines = []
    with open(target(data_path_for(files.cube_hdr)), "wb") as f:
        for block in render_cube_blocks(mat, spectra, rng, block_lines):
            f.write(block.tobytes())
            rgb_lines.append(_rgb_lines(block))
            del block
    for hdr, mask, key_case, name in (
        # The published General mask headers use non-lower-case keys (spectral warns about them).
        (files.general_hdr, general, str.title, "General"),
        (files.monoseg_hdr, monoseg, str.lower, "Monoseg"),
    ):
        text = format_envi_header(
            samples=samples, lines=lines, bands=1, data_type=1, description=f"{desc}, {name} ground truth",
            extra={"band names": "{Mask}"}, key_case=key_case,
        )  # fmt: skip
        write(hdr, text.encode())
        write(data_path_for(hdr), mask[:, :, None].astype(np.uint8).tobytes())
    write(files.pcb_mask_jpg, _jpeg(np.where(pcb, 255, 0).astype(np.uint8), "L", 95))
    write(files.rgb_jpg, _jpeg(_upsample(np.concatenate(rgb_lines)), "RGB", 92))
    up = np.ones((RGB_FACTOR, RGB_FACTOR), np.uint8)
    write(files.rgb_general_png, _png(np.kron(general, up)))
    write(files.rgb_monoseg_png, _png(np.kron(monoseg, up)))


def write_sample(
    dest: Path, *, scale: int = 1, seed: int = 0, boards: tuple[int, ...] = SAMPLE_BOARDS
) -> None:
    """Write the sample (HSI/ and RGB/ trees) under `dest`, replacing any previous HSI/ and RGB/ there."""
    dest = Path(dest)
    for sub in ("HSI", "RGB"):
        shutil.rmtree(dest / sub, ignore_errors=True)
    for board in boards:
        write_board(dest, board, scale=scale, seed=seed)


if __name__ == "__main__":  # pragma: no cover - the command that made assets/pcbvision
    import sys

    write_sample(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("assets/pcbvision"))
