"""PCB-Vision classifier: deterministic fits (the same rows in any order give the same model bytes)."""

import numpy as np
import polars as pl
import pytest

from dagster_project.datasets.pcbvision import models, sample, source
from dagster_project.fingerprint import object_sha256
from dagster_project.settings import SAMPLES_DIR

SAMPLE = SAMPLES_DIR / "pcbvision"


@pytest.fixture(scope="module")
def training_rows() -> pl.DataFrame:
    """The sample's training boards as the mart hands them over (label, spectrum, class weight)."""
    import fsspec

    fs = fsspec.filesystem("file")
    frames = [
        source.read_board(fs, str(SAMPLE), b).pixels
        for b in source.HSI_SPLITS["train"]
        if b in sample.SAMPLE_BOARDS
    ]
    df = pl.concat(frames).select("board", "line", "sample", "label", "spectrum")
    counts = df["label"].value_counts()
    weights = counts.with_columns(class_weight=df.height / (counts.height * pl.col("count"))).drop("count")
    return df.join(weights, on="label").with_columns(pl.col("board").cast(pl.Int32))


@pytest.mark.parametrize("classifier", ["logistic_regression", "lightgbm"])
def test_fit_is_byte_identical_whatever_order_the_rows_arrive_in(training_rows, classifier):
    config = models.PixelClassifierConfig(classifier=classifier, lgbm_trees=20, max_iter=300)
    fits = []
    for seed in (None, 1, 2):
        rows = training_rows if seed is None else training_rows.sample(fraction=1.0, shuffle=True, seed=seed)
        fits.append(models.fit_pixel_classifier(config, models.training_frame(rows)))
    hashes = {object_sha256(f) for f in fits}
    assert len(hashes) == 1, hashes
    X = models.spectra_matrix(training_rows)
    assert (fits[0].predict(X) == training_rows["label"].to_numpy()).mean() > 0.8  # it did learn


def test_training_frame_refuses_duplicate_pixels_and_empty_input(training_rows):
    with pytest.raises(ValueError, match="duplicate pixels"):
        models.training_frame(pl.concat([training_rows, training_rows.head(1)]))
    with pytest.raises(ValueError, match="empty"):
        models.training_frame(training_rows.head(0))
    assert models.training_frame(training_rows.reverse())["board"].is_sorted()
    assert np.array_equal(
        models.training_frame(training_rows.reverse())["line"].to_numpy(),
        models.training_frame(training_rows)["line"].to_numpy(),
    )
