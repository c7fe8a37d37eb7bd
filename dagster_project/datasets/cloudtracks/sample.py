"""Synthetic CloudTracks sample in the authors' on-disk layout (see `source.py` for the layout).

Each scene mimics the MODIS "day microphysics" composite the predecessor pipeline rendered
(R: 0.86 um reflectance, G: 3.7 um reflectance, B: 10.8 um brightness temperature): a textured deck of low
cloud with gaps, plus ship tracks: thin, elongated, slightly curved lines that brighten mostly the 3.7 um
(green) channel, because the smaller droplets in polluted cloud reflect more there. Tracks widen downstream of
the ship, some cross each other, and a fifth of the images have none. Cloud streets (wide, faint, elongated
brightenings) are distractors a plain brightness threshold mistakes for tracks.

Annotations follow the two styles seen in the wild: every third image has LabelMe `polygon` shapes (the
predecessor's buffered outlines, clipped to the image), the others `linestrip` centre lines. A third of the
images ship a `.npy` mask; the rest have an empty `mask` cell and are rasterised by the pipeline.

    .venv/bin/python -m dagster_project.datasets.cloudtracks.sample assets/cloudtracks
"""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from dagster_project.datasets.cloudtracks.source import (
    DEFAULT_BUFFER_PX,
    SPLITS,
    buffer_polyline,
    clip_polygon,
    rasterise,
)

SIZE = 128
BASE_COUNTS = {"train": 24, "val": 6, "test": 10}


def _fractal_noise(rng: np.random.Generator, shape: tuple[int, int], beta: float) -> np.ndarray:
    """Isotropic 1/f^beta noise in [0, 1]: the texture of a stratocumulus deck."""
    white = rng.standard_normal(shape)
    fy = np.fft.fftfreq(shape[0])[:, None]
    fx = np.fft.rfftfreq(shape[1])[None, :]
    f = np.sqrt(fx**2 + fy**2)
    f[0, 0] = 1.0
    field = np.fft.irfft2(np.fft.rfft2(white) / f**beta, s=shape)
    field -= field.min()
    return field / field.max()


def _curve(rng: np.random.Generator, shape: tuple[int, int], through: np.ndarray | None = None) -> np.ndarray:
    """Centre line of one track: a gently bent quadratic Bezier, 8 vertices, in the image; 55-150 px long in a
    128 px image, proportionally longer in larger ones (full granules: several hundred px)."""
    margin = 2.0
    h, w = shape
    k = min(h, w) / SIZE
    for _ in range(100):
        angle = rng.uniform(0, np.pi)
        length = rng.uniform(55, 150) * k
        centre = through if through is not None else rng.uniform(30 * k, np.array([w, h]) - 30 * k, 2)
        direction = np.array([np.cos(angle), np.sin(angle)])
        p0 = centre - direction * length * rng.uniform(0.3, 0.7)
        p2 = p0 + direction * length
        normal = np.array([-direction[1], direction[0]])
        ctrl = (p0 + p2) / 2 + normal * rng.uniform(-0.15, 0.15) * length
        t = np.linspace(0, 1, 8)[:, None]
        pts = (1 - t) ** 2 * p0 + 2 * (1 - t) * t * ctrl + t**2 * p2
        pts = np.clip(pts, margin, np.array([w, h]) - 1 - margin)
        if np.linalg.norm(pts[-1] - pts[0]) > 40 * k:
            return np.round(pts, 2)
    raise RuntimeError("could not place a track")  # pragma: no cover - 100 tries never all fail


def _distance_to_polyline(xy: np.ndarray, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distance of each pixel to the polyline and the arc-length position (0..1) of its nearest point."""
    best = np.full(len(xy), np.inf)
    along = np.zeros(len(xy))
    seg_len = np.linalg.norm(np.diff(pts, axis=0), axis=1)
    start = np.r_[0.0, np.cumsum(seg_len)]
    for a, b, s0, seg in zip(pts[:-1], pts[1:], start[:-1], seg_len, strict=True):
        if seg == 0:
            continue
        ab = b - a
        t = np.clip(((xy - a) @ ab) / (ab @ ab), 0.0, 1.0)
        d = np.linalg.norm(xy - (a + t[:, None] * ab), axis=1)
        closer = d < best
        best[closer] = d[closer]
        along[closer] = (s0 + t * seg)[closer]
    return best, along / start[-1]


def _scene(
    rng: np.random.Generator, n_tracks: int, shape: tuple[int, int] = (SIZE, SIZE)
) -> tuple[np.ndarray, list[np.ndarray]]:
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    xy = np.stack([xx.ravel(), yy.ravel()], axis=1).astype(np.float64)
    cloud = _fractal_noise(rng, shape, beta=1.6)
    fine = _fractal_noise(rng, shape, beta=0.9)
    cover = np.clip((cloud - rng.uniform(0.25, 0.45)) * 4.0, 0.0, 1.0)  # gaps of open ocean
    refl = cover * (0.45 + 0.35 * cloud + 0.2 * fine)
    r = 0.08 + 0.75 * refl
    g = 0.05 + 0.35 * refl
    b = 0.55 - 0.15 * refl + 0.05 * fine  # low cloud is only a little colder than the sea

    # Cloud streets: wide (sigma 6-9 px), faint, straight brightenings of R and G alike.
    for _ in range(rng.integers(0, 3)):
        pts = _curve(rng, shape)
        d, _ = _distance_to_polyline(xy, pts[[0, -1]])
        street = np.exp(-((d / rng.uniform(6, 9)) ** 2)).reshape(shape) * cover
        r += 0.10 * street
        g += 0.07 * street

    tracks: list[np.ndarray] = []
    for k in range(n_tracks):
        # Every second extra track is forced through a point of the previous one, so tracks overlap.
        through = None
        if k and rng.random() < 0.5:
            prev = tracks[-1]
            through = prev[rng.integers(2, len(prev) - 2)]
        pts = _curve(rng, shape, through)
        d, along = _distance_to_polyline(xy, pts)
        sigma = 1.6 + 1.8 * along  # a track widens as it ages downstream of the ship
        strength = rng.uniform(0.18, 0.3) * (1.0 - 0.4 * along)
        line = (strength * np.exp(-((d / sigma) ** 2))).reshape(shape)
        line *= 0.5 + 0.5 * np.maximum(cover, 0.3)  # tracks only show where there is cloud to brighten
        g += line
        r += 0.35 * line
        tracks.append(pts)

    img = np.stack([r, g, b], axis=-1)
    img += rng.normal(0.0, 0.006, img.shape)  # sensor noise, small so the PNGs stay lean
    return np.clip(img * 255.0, 0, 255).round().astype(np.uint8), tracks


def _upscaled_scene(
    rng: np.random.Generator, n_tracks: int, shape: tuple[int, int], factor: int
) -> tuple[np.ndarray, list[np.ndarray]]:
    """A scene rendered at 1/factor of `shape` and resized to it (bicubic), with full-resolution sensor noise
    on top; track centre lines scaled to full-resolution pixel coordinates (the tracks are `factor` times wider).
    Rendering a full MODIS granule (1354 x 2030) directly takes tens of seconds; this takes about one."""
    small, tracks = _scene(rng, n_tracks, (shape[0] // factor, shape[1] // factor))
    img = np.asarray(
        Image.fromarray(small, mode="RGB").resize((shape[1], shape[0]), Image.Resampling.BICUBIC)
    )
    noisy = img.astype(np.int16) + rng.normal(0.0, 1.5, img.shape).round().astype(np.int16)
    scaled = [np.round((t + 0.5) * factor - 0.5, 2) for t in tracks]
    return np.clip(noisy, 0, 255).astype(np.uint8), scaled


def _png_bytes(img: np.ndarray, compress_level: int = 9) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img, mode="RGB").save(buf, format="PNG", optimize=False, compress_level=compress_level)
    return buf.getvalue()


def _labelme(image_name: str, shapes: list[dict], shape: tuple[int, int] = (SIZE, SIZE)) -> bytes:
    doc = {
        "version": "4.0.0",
        "flags": {},
        "shapes": shapes,
        "imagePath": f"../images/{image_name}",
        "imageData": None,
        "imageHeight": shape[0],
        "imageWidth": shape[1],
    }
    return (json.dumps(doc, indent=2) + "\n").encode()


def _shape(points: np.ndarray, shape_type: str) -> dict:
    pts = [[round(float(x), 2), round(float(y), 2)] for x, y in points]
    return {"label": "shiptrack", "points": pts, "group_id": None, "shape_type": shape_type, "flags": {}}


def write_sample(
    dest: Path,
    *,
    scale: int = 1,
    seed: int = 0,
    shape: tuple[int, int] = (SIZE, SIZE),
    counts: dict[str, int] | None = None,
    unique_scenes: int | None = None,
    instance_masks: bool = False,
    compress_level: int = 9,
    render_scale: int = 1,
) -> None:
    """Write train/val/test CSVs, images, LabelMe JSONs and some `.npy` masks under `dest` (deterministic).

    The defaults write the committed 128 x 128 sample. For scale tests: `shape` (height, width), e.g. a full
    MODIS granule (1354, 2030); `counts` images per split instead of `BASE_COUNTS * scale`; `unique_scenes`
    renders only that many distinct scenes and reuses their pixels and tracks for the other images (each image
    still gets its own files, name, annotation style and mask), since rendering a full granule takes seconds;
    `instance_masks` writes masks with one id per track (1..k) instead of 0/1; `compress_level` of the PNGs;
    `render_scale` > 1 renders each scene at that fraction of `shape` and resizes it (`_upscaled_scene`).
    """
    dest = Path(dest)
    h, w = shape
    counts = counts or {split: BASE_COUNTS[split] * scale for split in SPLITS}
    scenes: dict[int, tuple[bytes, list[np.ndarray]]] = {}
    index = 0
    for split in SPLITS:
        for sub in ("images", "jsons", "masks"):
            (dest / split / sub).mkdir(parents=True, exist_ok=True)
        rows = []
        for _ in range(counts.get(split, 0)):
            scene = index % unique_scenes if unique_scenes else index
            if scene not in scenes:
                rng = np.random.default_rng([seed, scene])
                n_tracks = 0 if scene % 5 == 3 else int(rng.integers(1, 5))
                if render_scale > 1:
                    img, tracks = _upscaled_scene(rng, n_tracks, shape, render_scale)
                else:
                    img, tracks = _scene(rng, n_tracks, shape)
                scenes[scene] = (_png_bytes(img, compress_level), tracks)
                if not unique_scenes:
                    scenes.pop(scene - 1, None)  # keep at most one full image in memory
            png, tracks = scenes[scene]
            # MODIS granule naming as in the predecessor pipeline: <platform><YYYYDDD>.<HHMM>
            platform = "myd" if index % 2 else "mod"
            year, doy = 2018 + index % 4, 1 + (index * 7) % 365
            stem = f"{platform}{year}{doy:03d}.{(index * 5) % 24:02d}{(index * 13) % 60:02d}"
            if index >= 365 * 4:  # the naming repeats after 1460 images: keep names unique
                stem += f".{index // (365 * 4)}"
            name = f"{stem}.png"
            if index % 3 == 0:  # predecessor style: buffered outline, clipped to the image
                polys = [clip_polygon(buffer_polyline(t, DEFAULT_BUFFER_PX), w, h) for t in tracks]
                shapes = [_shape(p, "polygon") for p in polys]
            else:
                shapes = [_shape(t, "linestrip") for t in tracks]
                polys = [buffer_polyline(np.asarray(s["points"]), DEFAULT_BUFFER_PX) for s in shapes]
            (dest / split / "images" / name).write_bytes(png)
            (dest / split / "jsons" / f"{stem}.json").write_bytes(_labelme(name, shapes, shape))
            mask_rel = ""
            if index % 6 in (0, 1):  # a third of the images ship a mask, of both annotation styles
                rings = [np.asarray(s["points"]) for s in shapes] if index % 3 == 0 else polys
                semantic, instance = rasterise(rings, h, w)
                buf = io.BytesIO()
                np.save(buf, instance.astype(np.uint8) if instance_masks else semantic)
                (dest / split / "masks" / f"{stem}.npy").write_bytes(buf.getvalue())
                mask_rel = f"{split}/masks/{stem}.npy"
            rows.append([f"{split}/images/{name}", f"{split}/jsons/{stem}.json", mask_rel, str(bool(tracks))])
            index += 1
        with open(dest / f"{split}.csv", "w", newline="") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(["image", "json", "mask", "contains_shiptrack"])
            writer.writerows(rows)


if __name__ == "__main__":
    write_sample(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("assets/cloudtracks"))
