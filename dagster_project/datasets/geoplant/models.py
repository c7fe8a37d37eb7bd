"""GeoPlant models: the organisers' naive top-25 baselines (global, per country, per district + region) and a
nearest-neighbour survey model in environment space, evaluated with the sample-averaged F1 at top-25 on the 10 km
spatial block hold-out, plus a Kaggle-format submission for the official PA test surveys."""

from collections import Counter
from dataclasses import dataclass, field

import dagster as dg
import numpy as np
import polars as pl

from dagster_project.cluster import resource_hints
from dagster_project.footprint import measure_footprint
from dagster_project.metadata import paper_vs_ours, run_label, save_figure, table_metadata
from dagster_project.storage import Lake
from dagster_project.warehouse import Warehouse

from .source import TOP_K

GROUP = "geoplant"
TRAINING_SET = "geoplant_training_set"
FREQUENCIES = "geoplant_species_frequencies"
SUBMISSION = "reports/geoplant/submission.csv"
# GeoPlant paper / organisers' notebooks, full data, Kaggle GLC24 PA test (F1s@25, recall@25 where published).
PAPER = {
    "top25_global_f1": 0.11725,
    "top25_country_f1": 0.16127,
    "top25_district_region_f1": 0.20515,
    "xgboost_f1": 0.287,
    "xgboost_recall": 0.488,
    "best_mme_topk_f1": 0.362,
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
    """Predicts the K most frequent training species of the survey's group (global, country, district+region),
    falling back to the global ranking for a group never seen in training."""

    name: str
    key_column: str | None
    rankings: dict[str, list[int]]
    fallback: list[int]

    def predict(self, frame: pl.DataFrame, k: int = TOP_K) -> list[list[int]]:
        keys = frame[self.key_column].to_list() if self.key_column else ["all"] * frame.height
        return [self.rankings.get(key, self.fallback)[:k] for key in keys]


@dataclass
class KnnSpeciesModel:
    """Scores each species by the (distance-weighted) share of the k nearest training surveys, in standardised
    predictor space, that recorded it, and predicts the top K."""

    features: list[str]
    mean: np.ndarray
    scale: np.ndarray
    train_x: np.ndarray
    train_species: list[list[int]]
    n_neighbors: int
    distance_weighted: bool
    hyper_parameters: dict = field(default_factory=dict)

    def _x(self, frame: pl.DataFrame) -> np.ndarray:
        return (frame.select(self.features).to_numpy().astype(np.float64) - self.mean) / self.scale

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


def _baseline(warehouse: Warehouse, scope: str, key_column: str | None, name: str) -> TopKBaseline:
    freq = warehouse.query(
        f"select scope, scope_key, species_id, species_rank from {FREQUENCIES} "
        f"where scope in ('global', '{scope}') and species_rank <= {TOP_K} order by scope, scope_key, species_rank"
    )
    rankings = {
        key: group.sort("species_rank")["species_id"].to_list()
        for (key,), group in freq.filter(pl.col("scope") == scope).group_by("scope_key")
    }
    fallback = freq.filter(pl.col("scope") == "global").sort("species_rank")["species_id"].to_list()
    if not fallback:
        raise ValueError(f"{FREQUENCIES}: no global species ranking (is the training subset empty?)")
    return TopKBaseline(name=name, key_column=key_column, rankings=rankings, fallback=fallback)


def _baseline_metadata(model: TopKBaseline) -> dict:
    return {"groups": len(model.rankings), "global_top_species": dg.MetadataValue.json(model.fallback[:10])}


@dg.asset(name="geoplant_top25_global", group_name=GROUP, kinds={"python"}, deps=[dg.AssetKey(FREQUENCIES)])
def geoplant_top25_global(context: dg.AssetExecutionContext, warehouse: Warehouse) -> TopKBaseline:
    """Naive baseline: the 25 species present in the most training surveys, predicted for every survey
    (organisers' "top-25 PA": F1s 0.117 on the full data)."""
    with measure_footprint(context, task="training"):
        model = _baseline(warehouse, "global", None, "top-25 global")
    context.add_output_metadata(_baseline_metadata(model))
    return model


@dg.asset(name="geoplant_top25_country", group_name=GROUP, kinds={"python"}, deps=[dg.AssetKey(FREQUENCIES)])
def geoplant_top25_country(context: dg.AssetExecutionContext, warehouse: Warehouse) -> TopKBaseline:
    """Naive baseline: the 25 most frequent training species of the survey's country (F1s 0.161 on the full
    data)."""
    with measure_footprint(context, task="training"):
        model = _baseline(warehouse, "country", "country", "top-25 per country")
    context.add_output_metadata(_baseline_metadata(model))
    return model


@dg.asset(
    name="geoplant_top25_district_region", group_name=GROUP, kinds={"python"}, deps=[dg.AssetKey(FREQUENCIES)]
)
def geoplant_top25_district_region(context: dg.AssetExecutionContext, warehouse: Warehouse) -> TopKBaseline:
    """Naive baseline: the 25 most frequent training species of the survey's district + biogeographic region
    (the organisers' best naive approach, F1s 0.205 on the full data)."""
    with measure_footprint(context, task="training"):
        model = _baseline(warehouse, "district_region", "district_region", "top-25 per district + region")
    context.add_output_metadata(_baseline_metadata(model))
    return model


class KnnSpeciesConfig(dg.Config):
    """Hyper-parameters of the nearest-neighbour species model (editable in the launchpad). `features` are
    columns of `geoplant_training_set`; the default is the classic trio of species-distribution models: annual
    mean temperature (Bio1), annual precipitation (Bio12) and elevation. Add "lat", "lon" to use location."""

    n_neighbors: int = 20
    features: list[str] = ["Bio1", "Bio12", "Elevation"]
    distance_weighted: bool = True


@dg.asset(
    name="geoplant_knn_model",
    group_name=GROUP,
    kinds={"scikitlearn"},
    deps=[dg.AssetKey(TRAINING_SET)],
    op_tags=resource_hints(cpu="2", memory="8Gi"),  # Kubernetes requests/limits under dagster-k8s
)
def geoplant_knn_model(
    context: dg.AssetExecutionContext, config: KnnSpeciesConfig, warehouse: Warehouse
) -> KnnSpeciesModel:
    """Nearest-neighbour survey model: a survey's species are those of the training surveys closest to it in
    standardised environment space, weighted by inverse distance; the 25 best-scored species are predicted.
    Fitted on the training subset of `geoplant_training_set` (hold-out blocks excluded)."""
    train = warehouse.read_table(TRAINING_SET).filter(pl.col("subset") == "train")
    missing = [f for f in config.features if f not in train.columns]
    if missing:
        raise ValueError(f"geoplant_knn_model: features {missing} are not columns of {TRAINING_SET}")
    with measure_footprint(context, task="training"):
        x = train.select(config.features).to_numpy().astype(np.float64)
        mean, scale = x.mean(axis=0), x.std(axis=0)
        scale[scale == 0] = 1.0
        model = KnnSpeciesModel(
            features=list(config.features),
            mean=mean,
            scale=scale,
            train_x=(x - mean) / scale,
            train_species=train["species_ids"].to_list(),
            n_neighbors=config.n_neighbors,
            distance_weighted=config.distance_weighted,
            hyper_parameters=config.model_dump(),
        )
    context.add_output_metadata(
        {
            "train_surveys": train.height,
            "species_seen": len({s for row in model.train_species for s in row}),
            "hyper_parameters": dg.MetadataValue.json(config.model_dump()),
        }
    )
    return model


# --- evaluation ----------------------------------------------------------------------------------------------


def _map_plot(lake: Lake, train: pl.DataFrame, holdout: pl.DataFrame, f1: np.ndarray, title: str) -> dict:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 5))
    ax.scatter(train["lon"], train["lat"], c="lightgrey", s=6, label="training surveys")
    sc = ax.scatter(
        holdout["lon"], holdout["lat"], c=f1, cmap="viridis", vmin=0, vmax=1, s=18, edgecolors="k", lw=0.2
    )
    fig.colorbar(sc, ax=ax, label="F1 at top-25 (per survey)")
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    ax.set_title(title, fontsize=9)
    ax.legend(loc="upper left", fontsize=8)
    return save_figure(lake, "reports/geoplant/holdout_f1_map.png", fig, "holdout_f1_map")


@dg.asset(
    name="geoplant_model_evaluation", group_name=GROUP, kinds={"python"}, deps=[dg.AssetKey(TRAINING_SET)]
)
def geoplant_model_evaluation(
    context: dg.AssetExecutionContext,
    warehouse: Warehouse,
    lake: Lake,
    geoplant_top25_global: TopKBaseline,
    geoplant_top25_country: TopKBaseline,
    geoplant_top25_district_region: TopKBaseline,
    geoplant_knn_model: KnnSpeciesModel,
) -> dict:
    """Sample-averaged F1 at top-25 (F1s, the Kaggle GLC24 metric: mean over surveys of tp / (tp + 0.5 (fp + fn)))
    and recall at 25 of every model on the surveys of the held-out 10 km blocks, beside the GeoPlant paper's numbers
    (full data, Kaggle test). Shows a map of the nearest-neighbour model's per-survey F1 and writes a Kaggle-format
    submission (`surveyId,predictions`) of that model for the official PA test surveys."""
    data = warehouse.read_table(TRAINING_SET)
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
    metrics: dict[str, float] = {}
    per_survey = {}
    with measure_footprint(context, task="evaluation"):
        for name, model in models.items():
            pred = model.predict(holdout)
            per_survey[name] = f1_per_survey(pred, truth)
            metrics[f"{name}_f1_at_25"] = float(per_survey[name].mean())
            metrics[f"{name}_recall_at_25"] = float(recall_per_survey(pred, truth).mean())
        submission = pl.DataFrame(
            {
                "surveyId": test["survey_id"],
                "predictions": [" ".join(map(str, p)) for p in geoplant_knn_model.predict(test)],
            }
        )
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
    rows = [
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
        ("F1s@25, best published (MME + Top-K)", PAPER["best_mme_topk_f1"], None),
    ]
    plots = _map_plot(
        lake,
        data.filter(pl.col("subset") == "train"),
        holdout,
        per_survey["knn"],
        f"GeoPlant kNN, held-out 10 km blocks ({run_label('geoplant', lake)}): F1s@25 = {metrics['knn_f1_at_25']:.3f}",
    )
    context.add_output_metadata(
        {
            **{k: dg.MetadataValue.float(v) for k, v in metrics.items()},
            "headline_metric_name": "knn_f1_at_25",
            "headline_metric": dg.MetadataValue.float(metrics["knn_f1_at_25"]),
            "models": dg.MetadataValue.md(table_metadata(table)["preview"].value),
            "paper_vs_ours": dg.MetadataValue.md(
                paper_vs_ours(
                    rows,
                    paper="GeoPlant, NeurIPS 2024 D&B; Kaggle GLC24 test",
                    run=run_label("geoplant", lake, rows={"hold-out surveys": holdout.height}),
                )
            ),
            "submission": dg.MetadataValue.path(lake.url(SUBMISSION)),
            "submission_rows": submission.height,
            **plots,
        }
    )
    return {"dataset": "geoplant", "split": "holdout", "metrics": metrics, "paper": PAPER}
