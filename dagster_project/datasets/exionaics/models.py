"""ExioNAICS models: TF-IDF + linear classifier from company description to NAICS-6, and its evaluation
(top-k accuracy at NAICS-6 and NAICS-2, and emissions estimated as value added × predicted sector intensity)."""

import dagster as dg
import numpy as np
import polars as pl

from dagster_project.cluster import resource_hints
from dagster_project.footprint import measure_footprint
from dagster_project.metadata import paper_vs_ours, run_label, save_figure
from dagster_project.storage import Lake
from dagster_project.warehouse import Warehouse

GROUP = "exionaics"
TOP_K = (1, 5, 10)
# GREEN (arXiv 2502.06874), full ExioNAICS: 1,114 NAICS-6 classes; MAPE over 20 companies.
PAPER = {"top1_naics6": 0.8368, "top10_naics6": 0.9147, "mape_emissions": 0.4588}


class NaicsClassifierConfig(dg.Config):
    """Hyper-parameters of the TF-IDF + logistic-regression classifier (editable in the launchpad)."""

    ngram_max: int = 2
    min_df: int = 1
    max_features: int = 50_000
    sublinear_tf: bool = True
    C: float = 20.0
    max_iter: int = 2000


@dg.asset(
    name="exionaics_naics_classifier",
    group_name=GROUP,
    kinds={"scikitlearn"},
    deps=[dg.AssetKey("exionaics_training_set")],
    op_tags=resource_hints(cpu="1", memory="2Gi"),  # Kubernetes requests/limits under dagster-k8s
)
def exionaics_naics_classifier(
    context: dg.AssetExecutionContext, config: NaicsClassifierConfig, warehouse: Warehouse
):
    """A scikit-learn pipeline (TF-IDF word n-grams → multinomial logistic regression) predicting a company's
    NAICS-6 code from its description, fitted on the training split of `exionaics_training_set`."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    df = warehouse.read_table("exionaics_training_set")
    train = df.filter(pl.col("split") == "train")
    val = df.filter(pl.col("split") == "validation")
    model = Pipeline(
        [
            (
                "tfidf",
                TfidfVectorizer(
                    ngram_range=(1, config.ngram_max),
                    min_df=config.min_df,
                    max_features=config.max_features,
                    sublinear_tf=config.sublinear_tf,
                    lowercase=True,
                ),
            ),
            ("clf", LogisticRegression(C=config.C, max_iter=config.max_iter)),
        ]
    )
    context.log.info(
        f"fitting on {train.height} companies, {train['naics_6_code'].n_unique()} NAICS-6 classes"
    )
    with measure_footprint(context, task="training"):
        model.fit(train["company_description"].to_list(), train["naics_6_code"].to_list())
    val_acc = float(
        np.mean(model.predict(val["company_description"].to_list()) == val["naics_6_code"].to_numpy())
    )
    context.add_output_metadata(
        {
            "train_rows": train.height,
            "validation_rows": val.height,
            "classes": len(model.classes_),
            "vocabulary_size": len(model.named_steps["tfidf"].vocabulary_),
            "validation_top1_naics6": val_acc,
            "hyper_parameters": dg.MetadataValue.json(config.model_dump()),
        }
    )
    return model


def top_k_hits(ranked: np.ndarray, truth: np.ndarray, k: int) -> np.ndarray:
    """ranked: (n, C) labels in decreasing score order; True where the truth is among the first k."""
    return (ranked[:, :k] == truth[:, None]).any(axis=1)


def collapse_to_sector(ranked: np.ndarray) -> list[list[str]]:
    """NAICS-6 ranking → NAICS-2 ranking (first occurrence of each sector prefix, order kept)."""
    out = []
    for row in ranked:
        seen: dict[str, None] = {}
        for code in row:
            seen.setdefault(str(code)[:2], None)
        out.append(list(seen))
    return out


@dg.asset(
    name="exionaics_model_evaluation",
    group_name=GROUP,
    kinds={"scikitlearn"},
    deps=[dg.AssetKey("exionaics_training_set"), dg.AssetKey("exionaics_sector_intensity")],
)
def exionaics_model_evaluation(
    context: dg.AssetExecutionContext, exionaics_naics_classifier, warehouse: Warehouse, lake: Lake
) -> dict:
    """Test-split evaluation of `exionaics_naics_classifier`: top-1/5/10 accuracy at NAICS-6 and NAICS-2, and the
    MAPE of emissions estimated as value added × the intensity of the predicted sector, beside the GREEN paper's
    numbers (full data) for orientation."""
    model = exionaics_naics_classifier
    test = warehouse.read_table("exionaics_training_set").filter(pl.col("split") == "test")
    intensity = warehouse.read_table("exionaics_sector_intensity")
    with measure_footprint(context, task="evaluation"):
        proba = model.predict_proba(test["company_description"].to_list())
    classes = np.asarray(model.classes_)
    ranked = classes[np.argsort(-proba, axis=1)]
    truth6 = test["naics_6_code"].to_numpy()
    truth2 = test["naics_2_code"].to_numpy()
    sector_rank = collapse_to_sector(ranked[:, :50])
    metrics: dict[str, float] = {}
    for k in TOP_K:
        metrics[f"top{k}_naics6"] = float(top_k_hits(ranked, truth6, k).mean())
        metrics[f"top{k}_naics2"] = float(
            np.mean([t in r[:k] for t, r in zip(truth2, sector_rank, strict=True)])
        )

    # Emissions: E = value added × intensity of the predicted NAICS-3 sector, where the company reports emissions.
    pred = test.with_columns(pl.Series("pred_naics_3_code", [str(c)[:3] for c in ranked[:, 0]]))
    est = pred.join(
        intensity.select("naics_3_code", "carbon_intensity_kg_per_meur"),
        left_on="pred_naics_3_code",
        right_on="naics_3_code",
        how="left",
    ).with_columns(
        (pl.col("value_added_meur") * pl.col("carbon_intensity_kg_per_meur")).alias("estimated_kg")
    )
    scored = est.filter(pl.col("ghg_emissions_kg_co2e").is_not_null() & (pl.col("ghg_emissions_kg_co2e") > 0))
    scored = scored.filter(pl.col("estimated_kg").is_not_null())
    ape = (scored["estimated_kg"] - scored["ghg_emissions_kg_co2e"]).abs() / scored["ghg_emissions_kg_co2e"]
    metrics["mape_emissions"] = float(ape.mean())
    metrics["median_ape_emissions"] = float(ape.median())
    metrics["test_rows"] = float(test.height)
    metrics["emission_rows_scored"] = float(scored.height)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ks = np.arange(1, 11)
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(ks, [top_k_hits(ranked, truth6, k).mean() for k in ks], marker="o", label="NAICS-6")
    ax.plot(
        ks,
        [np.mean([t in r[:k] for t, r in zip(truth2, sector_rank, strict=True)]) for k in ks],
        marker="s",
        label="NAICS-2",
    )
    ax.scatter(
        [1, 10],
        [PAPER["top1_naics6"], PAPER["top10_naics6"]],
        marker="*",
        s=120,
        color="k",
        label="GREEN paper (full data)",
    )
    ax.set_xlabel("k")
    ax.set_ylabel("top-k accuracy (test split)")
    ax.set_ylim(0, 1.02)
    ax.legend(loc="lower right")
    ax.set_title(f"ExioNAICS: top-k accuracy, this run ({run_label('exionaics', lake)})")
    plots = save_figure(lake, "reports/exionaics/topk_accuracy.png", fig, "topk_accuracy_plot")

    context.add_output_metadata(
        {
            **{k: dg.MetadataValue.float(v) for k, v in metrics.items()},
            "headline_metric_name": "top1_naics6",
            "headline_metric": dg.MetadataValue.float(metrics["top1_naics6"]),
            "paper_vs_ours": dg.MetadataValue.md(
                paper_vs_ours(
                    [
                        ("top-1 accuracy, NAICS-6", PAPER["top1_naics6"], metrics["top1_naics6"]),
                        ("top-10 accuracy, NAICS-6", PAPER["top10_naics6"], metrics["top10_naics6"]),
                        ("MAPE of emission estimate", PAPER["mape_emissions"], metrics["mape_emissions"]),
                    ],
                    paper="GREEN, arXiv 2502.06874",
                    run=run_label("exionaics", lake, rows={"test companies": test.height}),
                )
            ),
            **plots,
        }
    )
    return {"dataset": "exionaics", "split": "test", "metrics": metrics, "paper": PAPER}
