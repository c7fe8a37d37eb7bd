"""GeoPlant models without the pipeline: statistics fitted on the fitting subset only, the organisers' fallback for
surveys without a group, feature resolution over the families present, and order-independent fits."""

import numpy as np
import polars as pl
import pytest

from dagster_project.datasets.geoplant import models
from dagster_project.fingerprint import object_sha256


def _training_set(seed: int = 0, n: int = 60) -> pl.DataFrame:
    """A frame shaped like geoplant_training_set: subsets, grouping keys, species lists, predictors with gaps."""
    rng = np.random.default_rng(seed)
    subset = np.array(["train"] * (n - 20) + ["holdout"] * 12 + ["test"] * 8)
    bio1 = rng.normal(10, 4, n)
    elev = rng.normal(800, 300, n)
    bio1[rng.random(n) < 0.2] = np.nan
    elev[rng.random(n) < 0.2] = np.nan
    return pl.DataFrame(
        {
            "survey_id": np.arange(1000, 1000 + n),
            "subset": subset,
            "lat": rng.uniform(44, 50, n),
            "lon": rng.uniform(2, 10, n),
            "district_region": [f"d{i % 4} | ALPINE" for i in range(n)],
            "species_ids": [sorted(rng.choice(50, 5, replace=False).tolist()) for _ in range(n)],
            "Bio1": bio1,
            "Elevation": elev,
        }
    ).with_columns(pl.col("Bio1", "Elevation").fill_nan(None))


def _fit(data: pl.DataFrame, features=("Bio1", "Elevation")) -> models.KnnSpeciesModel:
    return models.fit_knn(
        data, list(features), ["bioclimatic", "elevation"], n_neighbors=5, distance_weighted=True
    )


def test_changing_holdout_or_test_predictors_changes_no_fitted_statistic():
    data = _training_set()
    base = _fit(data)
    # Hold-out and test rows get extreme values, and gaps where they had values: nothing fitted may move.
    changed = data.with_columns(
        pl.when(pl.col("subset") != "train").then(pl.lit(1e6)).otherwise(pl.col("Bio1")).alias("Bio1"),
        pl.when(pl.col("subset") != "train").then(None).otherwise(pl.col("Elevation")).alias("Elevation"),
    )
    other = _fit(changed)
    for name in ("medians", "mean", "scale", "train_x"):
        assert np.array_equal(getattr(base, name), getattr(other, name)), name
    assert object_sha256(base) == object_sha256(other)
    # Control: the same change on one TRAINING row moves the statistics (the test can fail).
    first_train = data.filter(pl.col("subset") == "train")["survey_id"][0]
    moved = _fit(
        data.with_columns(
            pl.when(pl.col("survey_id") == first_train)
            .then(pl.lit(1e6))
            .otherwise(pl.col("Bio1"))
            .alias("Bio1")
        )
    )
    assert not np.array_equal(base.mean, moved.mean)


def test_imputation_medians_are_those_of_the_fitting_rows():
    data = _training_set(seed=3)
    model = _fit(data)
    train = data.filter(pl.col("subset") == "train")
    assert model.medians.tolist() == [train["Bio1"].median(), train["Elevation"].median()]
    assert not np.isnan(model.train_x).any()
    # A hold-out survey with a gap is predicted with the fitted median, not a hold-out statistic.
    holdout = data.filter(pl.col("subset") == "holdout").with_columns(
        pl.lit(None, dtype=pl.Float64).alias("Bio1")
    )
    x = model._x(holdout)
    assert np.allclose(x[:, 0], (model.medians[0] - model.mean[0]) / model.scale[0])


def test_fit_does_not_depend_on_the_row_order_it_is_given():
    data = _training_set(seed=5)
    shuffled = data.sample(fraction=1.0, shuffle=True, seed=42)
    assert shuffled["survey_id"].to_list() != data["survey_id"].to_list()
    assert object_sha256(_fit(data)) == object_sha256(_fit(shuffled))


def test_grouped_baseline_gives_the_organisers_fallback_for_null_and_unseen_groups():
    model = models.TopKBaseline(
        name="district+region",
        key_column="district_region",
        rankings={"d1 | ALPINE": [5, 7, 9]},
        fallback=list(models.ORGANISERS_FALLBACK),
        global_ranking=[1, 2, 3],
    )
    frame = pl.DataFrame({"district_region": ["d1 | ALPINE", None, "d9 | ATLANTIC"]})
    assert model.predict(frame) == [[5, 7, 9], [0], [0]]
    assert model.falls_back(frame).tolist() == [False, True, True]
    # Before the fix a null district became a region-only key, and an unseen group got the global top-25.
    assert models.ORGANISERS_FALLBACK == [0]


def test_features_follow_the_families_present():
    cols = [
        "survey_id",
        "subset",
        "lat",
        "lon",
        "species_ids",
        "Elevation",
        "Soilgrid-bdod",
        "landsat_red_mean",
    ]
    assert models.resolve_features(cols, []) == (["Elevation"], ["elevation"])
    no_trio = [c for c in cols if c != "Elevation"]
    assert models.resolve_features(no_trio, []) == (
        ["Soilgrid-bdod", "landsat_red_mean"],
        ["landsat", "soilgrids"],
    )
    assert models.resolve_features(["survey_id", "subset", "lat", "lon"], []) == (
        ["lat", "lon"],
        ["location"],
    )
    assert models.resolve_features(cols, ["Elevation", "lat"]) == (
        ["Elevation", "lat"],
        ["elevation", "location"],
    )


def test_a_configured_feature_of_a_missing_family_is_an_error_naming_the_family():
    cols = ["survey_id", "subset", "lat", "lon", "Elevation"]
    with pytest.raises(
        ValueError, match=r"'Bio12' needs the 'bioclimatic' family.*Families present: \['elevation'\]"
    ):
        models.resolve_features(cols, ["Bio12", "Elevation"])
    with pytest.raises(ValueError, match="'wind' is provided by no known family"):
        models.resolve_features(cols, ["wind"])
    with pytest.raises(ValueError, match="'Bio25' is not a column of the 'bioclimatic' files present"):
        models.resolve_features([*cols, "Bio1"], ["Bio25"])
