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
