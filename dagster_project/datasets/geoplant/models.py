"""GeoPlant models: the organisers' naive top-25 baselines (global, per country, per district + region) and a
nearest-neighbour survey model in environment space, evaluated with the sample-averaged F1 at top-25 on the 10 km
spatial block hold-out, plus a Kaggle-format submission for the official PA test surveys."""

from collections import Counter
from dataclasses import dataclass, field

import dagster as dg
import numpy as np
import polars as pl

from dagster_project.evaluation import EvaluationResult, ModelScores, ReferenceRow, evaluation_output
from dagster_project.fingerprint import training_fingerprint
from dagster_project.footprint import measure_footprint
from dagster_project.metadata import run_label, table_metadata
from dagster_project.plots import save_plot, score_map
from dagster_project.resource_hints import resource_hints
from dagster_project.roles import Role, role_tags
from dagster_project.storage import Lake
from dagster_project.warehouse import Warehouse

from . import source
from .source import TOP_K

GROUP = "geoplant"
TRAINING_SET = "geoplant_training_set"
FREQUENCIES = "geoplant_species_frequencies"
SUBMISSION = "reports/geoplant/submission.csv"
DATASET = "geoplant"
# GeoPlant paper / organisers' notebooks, full data, Kaggle GLC24 PA test (F1s@25, recall@25 where published).
PAPER = {
    "top25_global_f1": 0.11725,
    "top25_country_f1": 0.16127,
    "top25_district_region_f1": 0.20515,
    "xgboost_f1": 0.287,
    "xgboost_recall": 0.488,
    # docs/baselines.md "MME + Top-K": K is ESTIMATED per survey (not fixed at 25), so it is not an F1s@25 figure.
    "best_mme_topk_estimation_f1": 0.362,
}
PAPER_LABELS = {
    "best_mme_topk_estimation_f1": "F1s, best published: MME + Top-K Estimation (K estimated per survey, not fixed "
    "at 25; Clim+Landsat+S2)",
}
HOLDOUT_NOTE = (
    "Ours: the internal 10 km spatial block hold-out of the PA train split ({n} surveys), not the Kaggle GLC24 "
    "test set that the paper's figures are computed on."
)
# The organisers' naive baselines (baselines/naive-approach-baselines.ipynb, `get_topk_pa_species`) predict the
# single placeholder "0" for a survey whose group has no training survey: `... if len(query) > 0 else "0"`. A null
# district (or region) matches no group there (pandas `NaN == NaN` is False), so it takes the same fallback.
ORGANISERS_FALLBACK = [0]
# Default kNN predictors: the classic trio of species-distribution models, used for the families present.
DEFAULT_KNN_FEATURES = ("Bio1", "Bio12", "Elevation")
# Columns of geoplant_training_set that are not predictors.
NON_PREDICTORS = {
    "survey_id",
    "subset",
    "block_id",
    "lat",
    "lon",
    "country",
    "region",
    "district",
    "district_region",
    "species_ids",
    "n_species",
}


# --- metrics -------------------------------------------------------------------------------------------------


def f1_per_survey(predicted: list[list[int]], truth: list[list[int]]) -> np.ndarray:
    """tp / (tp + 0.5 (fp + fn)) per survey: the summand of the Kaggle sample-averaged F1 (F1s)."""
    out = np.empty(len(truth))
    for i, (p, t) in enumerate(zip(predicted, truth, strict=True)):
        ps, ts = set(p), set(t)
        tp = len(ps & ts)
        denom = tp + 0.5 * (len(ps - ts) + len(ts - ps))
        out[i] = tp / denom if denom else 1.0
    return out


def recall_per_survey(predicted: list[list[int]], truth: list[list[int]]) -> np.ndarray:
    return np.array(
        [len(set(p) & set(t)) / len(t) if t else 1.0 for p, t in zip(predicted, truth, strict=True)]
    )


# --- models --------------------------------------------------------------------------------------------------


@dataclass
class TopKBaseline:
    """Predicts the K most frequent training species of the survey's group (global, country, district+region).
    A survey whose group is null or has no training survey gets `fallback`: the organisers' placeholder "0"
    (ORGANISERS_FALLBACK) for the grouped baselines, as in their notebook."""

    name: str
    key_column: str | None
    rankings: dict[str, list[int]]
    fallback: list[int]
    global_ranking: list[int] = field(default_factory=list)

    def _keys(self, frame: pl.DataFrame) -> list:
        return frame[self.key_column].to_list() if self.key_column else ["all"] * frame.height

    def falls_back(self, frame: pl.DataFrame) -> np.ndarray:
        """True for each survey whose group is null or unseen in training (it gets `fallback`)."""
        return np.array([key is None or key not in self.rankings for key in self._keys(frame)], dtype=bool)

    def predict(self, frame: pl.DataFrame, k: int = TOP_K) -> list[list[int]]:
        return [
            self.rankings[key][:k] if key is not None and key in self.rankings else list(self.fallback)
            for key in self._keys(frame)
        ]


@dataclass
class KnnSpeciesModel:
    """Scores each species by the (distance-weighted) share of the k nearest training surveys, in standardised
    predictor space, that recorded it, and predicts the top K. Missing predictors take `medians`; `medians`,
    `mean` and `scale` are fitted on the fitting subset only."""

    features: list[str]
    families: list[str]
    medians: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    train_x: np.ndarray
    train_species: list[list[int]]
    n_neighbors: int
    distance_weighted: bool
    hyper_parameters: dict = field(default_factory=dict)

    def _x(self, frame: pl.DataFrame) -> np.ndarray:
        x = frame.select(self.features).to_numpy().astype(np.float64)
        x = np.where(np.isnan(x), self.medians, x)
        return (x - self.mean) / self.scale

    def predict(self, frame: pl.DataFrame, k: int = TOP_K) -> list[list[int]]:
        from sklearn.neighbors import NearestNeighbors

        nn = NearestNeighbors(n_neighbors=min(self.n_neighbors, len(self.train_x))).fit(self.train_x)
        dist, idx = nn.kneighbors(self._x(frame))
        out = []
        for drow, irow in zip(dist, idx, strict=True):
            scores: Counter = Counter()
            for d, j in zip(drow, irow, strict=True):
                w = 1.0 / (d + 1e-3) if self.distance_weighted else 1.0
                for s in self.train_species[j]:
                    scores[s] += w
            # Ties broken by the smaller speciesId so that predictions are deterministic.
            out.append([s for s, _ in sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:k]])
        return out


def predictor_columns(columns: list[str]) -> dict[str, str]:
    """Predictor columns of the training set that belong to a known family: column -> family."""
    out = {}
    for c in columns:
        family = source.predictor_family(c) if c not in NON_PREDICTORS else None
        if family is not None:
            out[c] = family
    return out


def resolve_features(columns: list[str], configured: list[str]) -> tuple[list[str], list[str]]:
    """(features, families used). An empty `configured` list means the default trio (DEFAULT_KNN_FEATURES) where
    its families are present, else every predictor of the families present, else the location (lat, lon): a
    missing family never stops the model. A configured feature that no file provides is an error naming the
    family that would provide it, raised before any fitting."""
    present = predictor_columns(columns)
    if configured:
        missing = [f for f in configured if f not in columns]
        if missing:
            families = sorted(set(present.values()))
            needs = {f: source.predictor_family(f) for f in missing}
            detail = "; ".join(
                f"{f!r} is provided by no known family"
                if fam is None
                else f"{f!r} is not a column of the {fam!r} files present"
                if fam in families
                else f"{f!r} needs the {fam!r} family (GLC24-PA-<split>-{fam}.csv), absent from this download"
                for f, fam in needs.items()
            )
            raise ValueError(
                f"geoplant_knn_model: configured features not in {TRAINING_SET}: {detail}. "
                f"Families present: {families or 'none'}."
            )
        features = list(configured)
    else:
        features = [f for f in DEFAULT_KNN_FEATURES if f in present] or sorted(present) or ["lat", "lon"]
    families = sorted({present.get(f) or "location" for f in features})
    return features, families


def read_training_set(warehouse: Warehouse) -> pl.DataFrame:
    """The training set in a defined order (survey_id), whatever order DuckDB returns the mart's rows in."""
    return warehouse.read_table(TRAINING_SET).sort("survey_id")


def fit_knn(
    data: pl.DataFrame,
    features: list[str],
    families: list[str],
    *,
    n_neighbors: int,
    distance_weighted: bool,
    hyper_parameters: dict | None = None,
) -> KnnSpeciesModel:
    """Fit on the `train` subset of `data` (the whole training set may be passed: hold-out and test rows are
    dropped here, before any statistic is computed). Medians (for missing values), means and scales come from the
    fitting rows only."""
    train = data.filter(pl.col("subset") == "train").sort("survey_id")
    if train.height == 0:
        raise ValueError(f"{TRAINING_SET}: the training subset is empty")
    x = train.select(features).to_numpy().astype(np.float64)
    with np.errstate(all="ignore"):
        medians = np.nanmedian(np.where(np.isnan(x).all(axis=0), 0.0, x), axis=0)
    x = np.where(np.isnan(x), medians, x)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    return KnnSpeciesModel(
        features=list(features),
        families=list(families),
        medians=medians,
        mean=mean,
        scale=scale,
        train_x=(x - mean) / scale,
        train_species=[list(s) for s in train["species_ids"].to_list()],
        n_neighbors=n_neighbors,
        distance_weighted=distance_weighted,
        hyper_parameters=dict(hyper_parameters or {}),
    )


def _baseline(
    warehouse: Warehouse, scope: str, key_column: str | None, name: str
) -> tuple[TopKBaseline, pl.DataFrame]:
    """The baseline and the frequency rows it was built from (sorted: its fingerprint frame)."""
    freq = warehouse.query(
        f"select scope, scope_key, species_id, species_rank from {FREQUENCIES} "
        f"where scope in ('global', '{scope}') and species_rank <= {TOP_K} order by scope, scope_key, species_rank"
    ).sort("scope", "scope_key", "species_rank")
    grouped = freq.filter(pl.col("scope") == scope)
    rankings: dict[str, list[int]] = {}
    for key, species in grouped.select("scope_key", "species_id").iter_rows():
        rankings.setdefault(key, []).append(species)
    global_ranking = freq.filter(pl.col("scope") == "global")["species_id"].to_list()
    if not global_ranking:
        raise ValueError(f"{FREQUENCIES}: no global species ranking (is the training subset empty?)")
    fallback = global_ranking if key_column is None else list(ORGANISERS_FALLBACK)
    model = TopKBaseline(
        name=name, key_column=key_column, rankings=rankings, fallback=fallback, global_ranking=global_ranking
    )
    return model, freq


def _baseline_metadata(model: TopKBaseline, lake: Lake, freq: pl.DataFrame, warehouse: Warehouse) -> dict:
    md = {
        "groups": len(model.rankings),
        "global_top_species": dg.MetadataValue.json(model.global_ranking[:10]),
        # The naive baselines read no environmental predictor: they work with any subset of families.
        "predictor_families": "none (species frequencies of the training subset"
        + (f", grouped by {model.key_column})" if model.key_column else ")"),
        **training_fingerprint(lake, DATASET, {FREQUENCIES: freq}),
    }
    if model.key_column:
        null_keys = warehouse.query(
            f"select count(*) as n from {TRAINING_SET} where subset = 'train' and {model.key_column} is null"
        )["n"][0]
        md["train_surveys_without_group"] = int(null_keys)
        md["unseen_group_fallback"] = (
            'organisers\' rule: predict the placeholder "0" (naive-approach-baselines.ipynb, get_topk_pa_species)'
        )
    return md


# The baselines read the frequencies mart and, for their metadata, the training set: both are declared, so
# that the baselines run after both are built.
BASELINE_DEPS = [dg.AssetKey(FREQUENCIES), dg.AssetKey(TRAINING_SET)]
MODEL_TAGS = role_tags(Role.MODEL, GROUP)


@dg.asset(
    name="geoplant_top25_global", group_name=GROUP, kinds={"python"}, tags=MODEL_TAGS, deps=BASELINE_DEPS
)
def geoplant_top25_global(
    context: dg.AssetExecutionContext, warehouse: Warehouse, lake: Lake
) -> TopKBaseline:
    """Naive baseline: the 25 species present in the most training surveys, predicted for every survey
    (organisers' "top-25 PA": F1s 0.117 on the full data)."""
    with measure_footprint(context, task="training"):
        model, freq = _baseline(warehouse, "global", None, "top-25 global")
    context.add_output_metadata(_baseline_metadata(model, lake, freq, warehouse))
    return model


@dg.asset(
    name="geoplant_top25_country", group_name=GROUP, kinds={"python"}, tags=MODEL_TAGS, deps=BASELINE_DEPS
)
def geoplant_top25_country(
    context: dg.AssetExecutionContext, warehouse: Warehouse, lake: Lake
) -> TopKBaseline:
    """Naive baseline: the 25 most frequent training species of the survey's country (F1s 0.161 on the full
    data); a survey of a country with no training survey gets the organisers' placeholder "0"."""
    with measure_footprint(context, task="training"):
        model, freq = _baseline(warehouse, "country", "country", "top-25 per country")
    context.add_output_metadata(_baseline_metadata(model, lake, freq, warehouse))
    return model


@dg.asset(
    name="geoplant_top25_district_region",
    group_name=GROUP,
    kinds={"python"},
    tags=MODEL_TAGS,
    deps=BASELINE_DEPS,
)
def geoplant_top25_district_region(
    context: dg.AssetExecutionContext, warehouse: Warehouse, lake: Lake
) -> TopKBaseline:
    """Naive baseline: the 25 most frequent training species of the survey's district + biogeographic region
    (the organisers' best naive approach, F1s 0.205 on the full data). A survey with no district (or region), or
    whose district + region has no training survey, gets the organisers' placeholder "0", as in their notebook;
    it never silently becomes a region-only group. The count of such surveys is in the metadata."""
    with measure_footprint(context, task="training"):
        model, freq = _baseline(
            warehouse, "district_region", "district_region", "top-25 per district + region"
        )
    context.add_output_metadata(_baseline_metadata(model, lake, freq, warehouse))
    return model


class KnnSpeciesConfig(dg.Config):
    """Hyper-parameters of the nearest-neighbour species model (editable in the launchpad). `features` are
    columns of `geoplant_training_set`. Empty (the default) means the classic trio of species-distribution models,
    annual mean temperature (Bio1), annual precipitation (Bio12) and elevation, restricted to the families this
    download holds (every predictor present if none of the three is, the location if there is no family at all).
    A configured column that no file provides stops the step before fitting, naming the missing family. Add
    "lat", "lon" to use location."""

    n_neighbors: int = 20
    features: list[str] = []
    distance_weighted: bool = True


@dg.asset(
    name="geoplant_knn_model",
    group_name=GROUP,
    kinds={"scikitlearn"},
    tags=MODEL_TAGS,
    deps=[dg.AssetKey(TRAINING_SET)],
    op_tags=resource_hints(cpu="2", memory="8Gi"),  # Kubernetes requests/limits under dagster-k8s
)
def geoplant_knn_model(
    context: dg.AssetExecutionContext, config: KnnSpeciesConfig, warehouse: Warehouse, lake: Lake
) -> KnnSpeciesModel:
    """Nearest-neighbour survey model: a survey's species are those of the training surveys closest to it in
    standardised environment space, weighted by inverse distance; the 25 best-scored species are predicted.
    Fitted on the training subset of `geoplant_training_set` (hold-out blocks excluded), read in survey_id order;
    missing predictors are imputed with medians of that subset. Uses the predictor families present and records
    them (`predictor_families`) with the training-data fingerprint."""
    data = read_training_set(warehouse)
    features, families = resolve_features(data.columns, list(config.features))
    with measure_footprint(context, task="training"):
        model = fit_knn(
            data,
            features,
            families,
            n_neighbors=config.n_neighbors,
            distance_weighted=config.distance_weighted,
            hyper_parameters=config.model_dump(),
        )
    train = data.filter(pl.col("subset") == "train")
    present = sorted(set(predictor_columns(data.columns).values()))
    context.add_output_metadata(
        {
            "train_surveys": train.height,
            "species_seen": len({s for row in model.train_species for s in row}),
            "features": ", ".join(features),
            "predictor_families": ", ".join(families),
            "families_in_training_set": ", ".join(present) or "none",
            "imputation_medians": dg.MetadataValue.json(
                {f: float(m) for f, m in zip(features, model.medians, strict=True)}
            ),
            "hyper_parameters": dg.MetadataValue.json(config.model_dump()),
            **training_fingerprint(lake, DATASET, {TRAINING_SET: train}),
        }
    )
    return model


# --- evaluation ----------------------------------------------------------------------------------------------


def paper_rows(metrics: dict[str, float]) -> list[ReferenceRow]:
    """Our hold-out F1s@25 and recall@25 beside the paper's figures for the same kind of model (full data)."""
    return [
        ("F1s@25, top-25 global", PAPER["top25_global_f1"], metrics["top25_global_f1_at_25"]),
        ("F1s@25, top-25 per country", PAPER["top25_country_f1"], metrics["top25_country_f1_at_25"]),
        (
            "F1s@25, top-25 per district + region",
            PAPER["top25_district_region_f1"],
            metrics["top25_district_region_f1_at_25"],
        ),
        ("F1s@25, learned model (paper: XGBoost; ours: kNN)", PAPER["xgboost_f1"], metrics["knn_f1_at_25"]),
        (
            "recall@25, learned model (paper: XGBoost; ours: kNN)",
            PAPER["xgboost_recall"],
            metrics["knn_recall_at_25"],
        ),
        (PAPER_LABELS["best_mme_topk_estimation_f1"], PAPER["best_mme_topk_estimation_f1"], None),
    ]


# The evaluation's short name of each model it scores (the prefix of that model's metrics) -> its input.
MODEL_INPUTS = {
    "top25_global": "geoplant_top25_global",
    "top25_country": "geoplant_top25_country",
    "top25_district_region": "geoplant_top25_district_region",
    "knn": "geoplant_knn_model",
}


@dg.asset(
    name="geoplant_model_evaluation",
    group_name=GROUP,
    kinds={"python"},
    tags=role_tags(Role.EVALUATION, GROUP),
    deps=[dg.AssetKey(TRAINING_SET)],
)
def geoplant_model_evaluation(
    context: dg.AssetExecutionContext,
    warehouse: Warehouse,
    lake: Lake,
    geoplant_top25_global: TopKBaseline,
    geoplant_top25_country: TopKBaseline,
    geoplant_top25_district_region: TopKBaseline,
    geoplant_knn_model: KnnSpeciesModel,
) -> dg.Output[EvaluationResult]:
    """Sample-averaged F1 at top-25 (F1s, the Kaggle GLC24 metric: mean over surveys of tp / (tp + 0.5 (fp + fn)))
    and recall at 25 of every model on the surveys of the held-out 10 km blocks, beside the GeoPlant paper's numbers
    (full data, Kaggle test). Shows a map of the nearest-neighbour model's per-survey F1 and writes a Kaggle-format
    submission (`surveyId,predictions`) of that model for the official PA test surveys."""
    data = read_training_set(warehouse)
    holdout = data.filter(pl.col("subset") == "holdout").sort("survey_id")
    test = data.filter(pl.col("subset") == "test").sort("survey_id")
    if holdout.height == 0:
        raise ValueError(f"{TRAINING_SET}: the hold-out subset is empty; raise var geoplant_holdout_percent")
    truth = holdout["species_ids"].to_list()
    models = {
        "top25_global": geoplant_top25_global,
        "top25_country": geoplant_top25_country,
        "top25_district_region": geoplant_top25_district_region,
        "knn": geoplant_knn_model,
    }
    own: dict[str, dict[str, float]] = {}  # each model's metrics, named after it
    per_survey = {}
    with measure_footprint(context, task="evaluation"):
        for name, model in models.items():
            pred = model.predict(holdout)
            per_survey[name] = f1_per_survey(pred, truth)
            own[name] = {
                f"{name}_f1_at_25": float(per_survey[name].mean()),
                f"{name}_recall_at_25": float(recall_per_survey(pred, truth).mean()),
            }
        submission = pl.DataFrame(
            {
                "surveyId": test["survey_id"],
                "predictions": [" ".join(map(str, p)) for p in geoplant_knn_model.predict(test)],
            }
        )
    for name in ("top25_country", "top25_district_region"):
        # Hold-out surveys whose group is null or unseen in training: they got the organisers' placeholder "0".
        own[name][f"{name}_fallback_surveys"] = float(models[name].falls_back(holdout).sum())
    own["top25_district_region"]["top25_district_region_null_group_surveys"] = float(
        holdout["district_region"].null_count()
    )
    metrics = {k: v for scores in own.values() for k, v in scores.items()}
    metrics["holdout_surveys"] = float(holdout.height)
    lake.write_bytes(SUBMISSION, submission.write_csv().encode())

    table = pl.DataFrame(
        {
            "model": list(models),
            "f1_at_25": [metrics[f"{m}_f1_at_25"] for m in models],
            "recall_at_25": [metrics[f"{m}_recall_at_25"] for m in models],
        }
    )
    context.log.info(f"geoplant hold-out ({holdout.height} surveys):\n{table}")
    train = data.filter(pl.col("subset") == "train")
    fig = score_map(
        holdout["lon"],
        holdout["lat"],
        per_survey["knn"],
        background=(train["lon"], train["lat"], "training surveys"),
        label="F1 at top-25 (per survey)",
        title=f"GeoPlant kNN, internal 10 km block hold-out, not the Kaggle test ({run_label('geoplant', lake)}): "
        f"F1s@25 = {metrics['knn_f1_at_25']:.3f}",
    )
    fallbacks = int(metrics["top25_district_region_fallback_surveys"])
    null_groups = int(metrics["top25_district_region_null_group_surveys"])
    return evaluation_output(
        EvaluationResult(
            dataset=GROUP,
            split="holdout",
            metrics=metrics,
            headline="knn_f1_at_25",
            higher_is_better=True,
            reference_rows=paper_rows(metrics),
            reference="GeoPlant, NeurIPS 2024 D&B; Kaggle GLC24 PA test",
            run=run_label("geoplant", lake, rows={"hold-out surveys": holdout.height}),
            reference_note=HOLDOUT_NOTE.format(n=holdout.height)
            + f' The district + region baseline gave the organisers\' fallback ("0") to {fallbacks} hold-out '
            f"surveys (null district or region: {null_groups}; the rest: a district + region with no training "
            "survey).",
            # each model's own metrics, under the key of the asset it was read from (renames follow)
            models={
                context.asset_key_for_input(arg).to_user_string(): ModelScores(own[name], f"{name}_f1_at_25")
                for name, arg in MODEL_INPUTS.items()
            },
            plots=save_plot(lake, GROUP, "holdout_f1_map", fig),
            metadata={
                "models": dg.MetadataValue.md(table_metadata(table)["preview"].value),
                "predictor_families": ", ".join(geoplant_knn_model.families),
                "submission": dg.MetadataValue.path(lake.url(SUBMISSION)),
                "submission_rows": submission.height,
            },
            details={"paper": PAPER},
        )
    )
