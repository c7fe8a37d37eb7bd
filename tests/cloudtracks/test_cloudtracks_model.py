"""CloudTracks model determinism: the same training data gives a byte-identical model and identical metrics."""

import functools

import fsspec
import numpy as np

from dagster_project.datasets.cloudtracks import assets, models, pixels
from dagster_project.datasets.cloudtracks import source as S
from dagster_project.fingerprint import object_sha256
from dagster_project.settings import SAMPLES_DIR

SAMPLE = SAMPLES_DIR / "cloudtracks"


@functools.cache
def _layout():
    return S.read_layout(fsspec.filesystem("file"), str(SAMPLE))


def _items(split: str, n: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(image, ground-truth semantic mask) of the first `n` images of a split, in image_id order."""
    images, instances = _layout()
    polys = assets.instance_polygons(instances)
    out = []
    for r in images.filter(images["split"] == split).sort("image_id").head(n).iter_rows(named=True):
        image = S.read_image((SAMPLE / r["image_file"]).read_bytes(), r["image_file"])
        shipped = (
            S.read_mask((SAMPLE / r["mask_file"]).read_bytes(), r["mask_file"]) if r["mask_file"] else None
        )
        semantic, *_ = S.image_masks(polys.get(r["image_id"], []), r["height"], r["width"], shipped)
        out.append((image, semantic))
    return out


def test_same_data_gives_a_byte_identical_model_and_metrics():
    train, tune, test = _items("train", 8), _items("val", 3), _items("test", 4)
    config = models.ShipTrackModelConfig(n_estimators=25, pixels_per_class=300, min_component_px=[10])

    def fit_and_score(cfg):
        model, info = models.fit_model(iter(train), iter(tune), cfg)
        preds = [model.predict(image) for image, _ in test]
        scores = pixels.score(
            [p[0] for p in preds], [t for _, t in test], [p[2] for p in preds], [0] * len(test)
        )
        return object_sha256(model), info, vars(scores)

    first, second = fit_and_score(config), fit_and_score(config)
    assert first[0] == second[0]  # byte-identical pickles
    assert first[1] == second[1] and first[2] == second[2]
    # The test can see a difference: another seed is another fit.
    assert fit_and_score(config.model_copy(update={"seed": 1}))[0] != first[0]


def test_lightgbm_settings_are_seeded_and_deterministic():
    params = models.lgbm_params(models.ShipTrackModelConfig(seed=7, n_jobs=2))
    assert params["deterministic"] is True and params["force_row_wise"] is True and params["n_jobs"] == 2
    for key in ("random_state", "bagging_seed", "feature_fraction_seed", "data_random_seed"):
        assert params[key] == 7
