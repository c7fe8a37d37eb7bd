"""Pixel features, track instances and metrics of the CloudTracks model (no Dagster)."""

import numpy as np
import pytest

from dagster_project.datasets.cloudtracks import pixels as P


def _line_image() -> np.ndarray:
    img = np.full((64, 64, 3), 90, np.uint8)
    img[30:33, 5:60, 1] = 200  # a bright horizontal line in the green channel
    return img


def test_features_shape_and_ridge_response():
    img = _line_image()
    feats = P.pixel_features(img)
    assert feats.shape == (64 * 64, len(P.FEATURE_NAMES)) and feats.dtype == np.float32
    ridge = feats[:, P.FEATURE_NAMES.index("g_ridge_s1.5")].reshape(64, 64)
    assert ridge[31, 30] > 10 * max(ridge[10, 30], 1e-6)  # on the line vs flat background
    gray = P.pixel_features(img[:, :, 1])
    assert gray.shape == feats.shape


def test_sample_pixels_balances_classes():
    mask = np.zeros((64, 64), np.uint8)
    mask[30:33, 5:60] = 1
    x, y = P.sample_pixels(P.pixel_features(_line_image()), mask, 100, np.random.default_rng(0))
    assert (y == 1).sum() == 100 and (y == 0).sum() == 100 and len(x) == 200


def test_segment_drops_small_components_and_counts_tracks():
    proba = np.zeros((50, 50))
    proba[5:8, 2:40] = 0.9  # track 1
    proba[20:23, 2:40] = 0.8  # track 2
    proba[40, 40] = 0.95  # speckle
    semantic, labels, n = P.segment(proba, 0.5, min_component_px=10)
    assert n == 2 and set(np.unique(labels)) == {0, 1, 2}
    assert semantic.sum() == 2 * 3 * 38 and semantic[40, 40] == 0


def test_scores_follow_the_stated_definitions():
    t1 = np.zeros((10, 10), np.uint8)
    t1[0, :] = 1  # 10 track pixels
    p1 = np.zeros_like(t1)
    p1[0, :5] = 1  # 5 hits
    p1[5, :5] = 1  # 5 false alarms
    t2 = np.zeros_like(t1)  # negative image, predicted empty: IoU 1
    s = P.score([p1, t2.copy()], [t1, t2], pred_counts=[2, 0], true_counts=[1, 0])
    assert s.iou_positive_images == pytest.approx(5 / 15)
    assert s.iou_all_images == pytest.approx((5 / 15 + 1) / 2)
    assert s.iou_pooled == pytest.approx(5 / 15)
    assert (s.precision, s.recall) == (pytest.approx(0.5), pytest.approx(0.5))
    assert s.f1 == pytest.approx(0.5)  # 2PR/(P+R), not the dev code's PR/(P+R) = 0.25
    assert s.f1_dev_code_formula == pytest.approx(0.25)
    assert s.count_mae == pytest.approx(0.5)
    assert (s.n_images, s.n_positive_images) == (2, 1)


def test_mask_png_round_trip():
    sem = (np.random.default_rng(0).random((20, 30)) > 0.9).astype(np.uint8)
    inst = (sem * np.arange(600, dtype=np.uint16).reshape(20, 30)).astype(np.uint16)
    assert np.array_equal(P.png_to_mask(P.mask_to_png(sem)), sem)
    back = P.png_to_mask(P.mask_to_png(inst))
    assert back.dtype == np.uint16 and np.array_equal(back, inst)


@pytest.mark.parametrize("hi", [0, 1, 2, 3, 9, 15, 16, 200, 255])
def test_mask_png_round_trip_at_every_bit_depth(hi):
    rng = np.random.default_rng(hi)
    mask = rng.integers(0, hi + 1, (37, 53)).astype(np.uint16)
    mask[0, 0] = hi
    back = P.png_to_mask(P.mask_to_png(mask))
    assert back.shape == mask.shape and np.array_equal(back.astype(np.uint16), mask)
