"""CPU ship-track segmentation: per-pixel features, a gradient-boosted pixel classifier, track instances from
connected components, and the evaluation metrics (pure functions, no Dagster)."""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np
from PIL import Image
from scipy import ndimage

FEATURE_NAMES = (
    "r",
    "g",
    "b",
    "g_minus_r",
    "g_local_contrast",
    "lum_local_contrast",
    "g_local_std",
    "g_ridge_s1.5",
    "g_ridge_s2.5",
    "g_ridge_s4",
    "lum_ridge_s2.5",
    "g_anisotropy_s2.5",
    "lum_context_s3",
    "g_context_s16",
)


def _ridge(channel: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Bright-line strength and anisotropy from the Hessian at one scale.

    A bright line has one strongly negative eigenvalue (across the line) and one near zero (along it);
    `ridge` = max(-lambda_min, 0) * sigma^2 (scale-normalised);
    `anisotropy` = (l_max - l_min) / (|l_max| + |l_min|).
    """
    hxx = ndimage.gaussian_filter(channel, sigma, order=(0, 2))
    hyy = ndimage.gaussian_filter(channel, sigma, order=(2, 0))
    hxy = ndimage.gaussian_filter(channel, sigma, order=(1, 1))
    half_trace = (hxx + hyy) / 2
    root = np.sqrt(((hxx - hyy) / 2) ** 2 + hxy**2)
    l_min, l_max = half_trace - root, half_trace + root
    ridge = np.maximum(-l_min, 0) * sigma**2
    anisotropy = (l_max - l_min) / (np.abs(l_max) + np.abs(l_min) + 1e-6)
    return ridge, anisotropy


def pixel_features(image: np.ndarray) -> np.ndarray:
    """(H*W, len(FEATURE_NAMES)) float32 features of an (H, W) or (H, W, C) uint8 image.

    Grayscale images use their one channel for r, g and b. The green channel is the 3.7 um reflectance in the
    day-microphysics composite, where ship tracks stand out most.
    """
    img = image.astype(np.float32) / 255.0
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    r, g, b = img[:, :, 0], img[:, :, 1], img[:, :, 2]
    lum = img[:, :, :3].mean(axis=2)
    g_mean = ndimage.gaussian_filter(g, 8)
    g_std = np.sqrt(np.maximum(ndimage.gaussian_filter(g * g, 8) - g_mean**2, 0))
    ridge15, _ = _ridge(g, 1.5)
    ridge25, aniso25 = _ridge(g, 2.5)
    ridge4, _ = _ridge(g, 4.0)
    lum_ridge, _ = _ridge(lum, 2.5)
    feats = [
        r,
        g,
        b,
        g - r,
        g - g_mean,
        lum - ndimage.gaussian_filter(lum, 8),
        g_std,
        ridge15,
        ridge25,
        ridge4,
        lum_ridge,
        aniso25,
        ndimage.gaussian_filter(lum, 3),
        ndimage.gaussian_filter(g, 16),
    ]
    return np.stack([f.ravel() for f in feats], axis=1).astype(np.float32)


def sample_pixels(
    features: np.ndarray, mask: np.ndarray, n_per_class: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Up to n_per_class track and n_per_class background pixels of one image (tracks are ~5% of pixels, so
    uniform sampling would starve the classifier of positives)."""
    labels = mask.ravel().astype(bool)
    pos, neg = np.flatnonzero(labels), np.flatnonzero(~labels)
    take = np.concatenate(
        [
            rng.choice(pos, min(n_per_class, len(pos)), replace=False) if len(pos) else pos,
            rng.choice(neg, min(n_per_class, len(neg)), replace=False),
        ]
    )
    return features[take], labels[take].astype(np.uint8)


@dataclass
class PixelModel:
    """A fitted pixel classifier plus the post-processing that turns probabilities into tracks."""

    classifier: object  # lightgbm.LGBMClassifier
    threshold: float
    min_component_px: int
    feature_names: tuple[str, ...] = FEATURE_NAMES
    params: dict = field(default_factory=dict)

    def probability(self, image: np.ndarray) -> np.ndarray:
        feats = pixel_features(image)
        proba = self.classifier.predict_proba(feats)[:, 1]
        return proba.reshape(image.shape[:2])

    def predict(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
        """Semantic mask (uint8), instance labels (int32) and track count for one image."""
        return segment(self.probability(image), self.threshold, self.min_component_px)


def segment(proba: np.ndarray, threshold: float, min_component_px: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Threshold, then keep 8-connected components of >= `min_component_px` pixels as track instances."""
    labels, n = ndimage.label(proba >= threshold, structure=np.ones((3, 3), bool))
    if n:
        sizes = np.bincount(labels.ravel(), minlength=n + 1)
        keep = sizes >= min_component_px
        keep[0] = False
        remap = np.zeros(n + 1, np.int32)
        remap[keep] = np.arange(1, keep.sum() + 1)
        labels = remap[labels]
        n = int(keep.sum())
    return (labels > 0).astype(np.uint8), labels.astype(np.int32), n


# ----------------------------------------------------------------------------------------------------
# Metrics


def iou(pred: np.ndarray, truth: np.ndarray) -> float:
    """Per-image IoU of binary masks; 1.0 when both are empty (a correct "no track")."""
    p, t = pred.astype(bool), truth.astype(bool)
    union = np.logical_or(p, t).sum()
    return 1.0 if union == 0 else float(np.logical_and(p, t).sum() / union)


@dataclass
class Scores:
    iou_all_images: float  # mean per-image IoU over all test images (empty vs empty = 1)
    iou_positive_images: float  # mean per-image IoU over images with a track (authors' dev protocol)
    iou_pooled: float  # one IoU over all test pixels
    count_mae: float
    precision: float
    recall: float
    f1: float  # 2PR/(P+R)
    f1_dev_code_formula: float  # P*R/(P+R), as in the authors' dev code (half the F1); for comparison only
    n_images: int
    n_positive_images: int


def score(preds: list[np.ndarray], truths: list[np.ndarray], pred_counts, true_counts) -> Scores:
    """Segmentation and counting scores over a set of images (pixel precision/recall pooled over images)."""
    ious = np.array([iou(p, t) for p, t in zip(preds, truths, strict=True)])
    positive = np.array([t.any() for t in truths])
    tp = sum(
        int(np.logical_and(p.astype(bool), t.astype(bool)).sum()) for p, t in zip(preds, truths, strict=True)
    )
    fp = sum(
        int(np.logical_and(p.astype(bool), ~t.astype(bool)).sum()) for p, t in zip(preds, truths, strict=True)
    )
    fn = sum(
        int(np.logical_and(~p.astype(bool), t.astype(bool)).sum()) for p, t in zip(preds, truths, strict=True)
    )
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    pr = precision + recall
    return Scores(
        iou_all_images=float(ious.mean()) if len(ious) else float("nan"),
        iou_positive_images=float(ious[positive].mean()) if positive.any() else float("nan"),
        iou_pooled=tp / (tp + fp + fn) if tp + fp + fn else 1.0,
        count_mae=float(np.mean(np.abs(np.asarray(pred_counts) - np.asarray(true_counts)))),
        precision=precision,
        recall=recall,
        f1=2 * precision * recall / pr if pr else 0.0,
        f1_dev_code_formula=precision * recall / pr if pr else 0.0,
        n_images=len(ious),
        n_positive_images=int(positive.sum()),
    )


# ----------------------------------------------------------------------------------------------------
# Mask encoding (masks travel as PNG bytes: lossless and tiny for sparse track masks)


def mask_to_png(mask: np.ndarray) -> bytes:
    """A mask as PNG whose pixel values are the mask's values: a palette PNG of 1, 2, 4 or 8 bits (the fewest
    that hold the largest value; the palette is a grey ramp, the indices are the values) up to 255, a 16-bit
    grayscale PNG beyond. Bit-packed palette rows compress several times faster than 8-bit grayscale ones, which
    matters on full granules (2.7 M pixels); zlib level 1 keeps sparse masks at a few tens of KB."""
    buf = io.BytesIO()
    hi = int(mask.max()) if mask.size else 0
    if hi <= 255:
        bits = next(b for b in (1, 2, 4, 8) if hi < 2**b)
        img = Image.frombytes("P", (mask.shape[1], mask.shape[0]), mask.astype(np.uint8).tobytes())
        img.putpalette(np.repeat(np.arange(2**bits, dtype=np.uint8), 3).tobytes())
        img.save(buf, format="PNG", compress_level=1, bits=bits)
    else:
        Image.fromarray(mask.astype(np.uint16)).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def png_to_mask(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as img:
        arr = np.asarray(img)
    return arr.astype(np.uint16) if arr.dtype != np.uint8 else arr
