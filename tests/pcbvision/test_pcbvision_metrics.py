"""Segmentation metrics of the PCB-Vision evaluation, checked against scikit-learn's definitions."""

import numpy as np
from sklearn.metrics import cohen_kappa_score, jaccard_score, precision_recall_fscore_support

from dagster_project.datasets.pcbvision.models import confusion_matrix, segmentation_metrics


def test_metrics_match_sklearn_and_kappa_is_one_scalar():
    rng = np.random.default_rng(0)
    y = rng.choice(4, size=5000, p=[0.8, 0.1, 0.06, 0.04])
    pred = np.where(rng.random(5000) < 0.7, y, rng.integers(0, 4, 5000))
    m = segmentation_metrics(confusion_matrix(y, pred))
    p, r, f1, _ = precision_recall_fscore_support(y, pred, labels=[0, 1, 2, 3], zero_division=0)
    np.testing.assert_allclose(m["precision"], p)
    np.testing.assert_allclose(m["recall"], r)
    np.testing.assert_allclose(m["f1"], f1)
    np.testing.assert_allclose(m["iou"], jaccard_score(y, pred, average=None, labels=[0, 1, 2, 3]))
    assert isinstance(m["kappa"], float)  # the authors' formula gives a vector per class
    np.testing.assert_allclose(m["kappa"], cohen_kappa_score(y, pred))
    np.testing.assert_allclose(m["pixel_accuracy"], (y == pred).mean())
    np.testing.assert_allclose(m["mean_iou"], np.mean(m["iou"]))


def test_undefined_scores_are_nan_and_left_out_of_means():
    y = np.array([0, 0, 1, 1])
    pred = np.array([0, 0, 1, 0])
    m = segmentation_metrics(confusion_matrix(y, pred))
    assert np.isnan(m["iou"][2]) and np.isnan(m["precision"][3])  # classes absent from truth and prediction
    np.testing.assert_allclose(m["mean_iou"], np.mean([2 / 3, 1 / 2]))
    perfect = segmentation_metrics(confusion_matrix(y, y))
    assert perfect["kappa"] == 1.0 and perfect["mean_iou"] == 1.0


def test_padded_patch_protocol_counts_padding_as_others_and_inflates_others_and_accuracy():
    """The authors' numbers come from 128x128 zero-padded patches (their test confusion matrix totals 690 x
    128^2 pixels): padding is labelled 'others', so a model that predicts 'others' on it scores it as correct."""
    from dagster_project.datasets.pcbvision.models import PATCH, padded_extent, padded_patch_confusion

    rng = np.random.default_rng(1)
    lines, samples = 130, 200  # 2 x 2 patches, 256 x 256 pixels once padded
    y = rng.choice(4, size=lines * samples, p=[0.6, 0.2, 0.1, 0.1])
    pred = np.where(rng.random(y.size) < 0.75, y, rng.integers(0, 4, y.size))
    whole = confusion_matrix(y, pred)
    padded = padded_patch_confusion(whole, lines, samples, padding_prediction=0)
    assert padded_extent(lines, samples) == (2 * PATCH, 2 * PATCH) and padded_extent(128, 256) == (128, 256)
    assert padded.sum() == 4 * PATCH**2 and (padded - whole)[0, 0] == 4 * PATCH**2 - lines * samples
    w, p = segmentation_metrics(whole), segmentation_metrics(padded)
    assert p["iou"][0] > w["iou"][0] + 0.05 and p["pixel_accuracy"] > w["pixel_accuracy"] + 0.05
    np.testing.assert_allclose(p["iou"][1:], w["iou"][1:])  # component classes are untouched
    # a model that calls the zero fill 'IC' is punished instead: the padding becomes false ICs
    as_ic = segmentation_metrics(padded_patch_confusion(whole, lines, samples, padding_prediction=1))
    assert as_ic["iou"][1] < w["iou"][1] and as_ic["pixel_accuracy"] < w["pixel_accuracy"]
    # a 1100 x 1024 board is cut into 9 x 8 = 72 patches
    assert np.prod(padded_extent(1100, 1024)) // PATCH**2 == 72
