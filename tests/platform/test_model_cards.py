"""Model cards: found from the asset graph for every dataset, Hugging Face front matter whose metrics are the
evaluation's, the carbon-efficiency label in the card and in the `platform_model_carbon` mart."""

import math

import duckdb
import polars as pl
import pytest

from dagster_project.evaluation import (
    EvaluationResult,
    ModelScores,
    evaluation_metadata,
    read_evaluation,
)
from dagster_project.model_cards import (
    EFFICIENCY_CLASSES,
    carbon_efficiency,
    find_model_pairs,
    hf_dataset_id,
    hf_license,
    parse_card,
)
from dagster_project.roles import Role, keys_with_role, role_of, role_tags

HF_CO2_KEYS = {"emissions", "source", "training_type", "geographical_location", "hardware_used"}


def test_every_evaluated_model_gets_exactly_one_card():
    from dagster_project.datasets import load_datasets
    from dagster_project.definitions import defs

    graph = defs.resolve_asset_graph()
    names = {k.to_user_string() for k in graph.get_all_asset_keys()}
    for ds in load_datasets():
        assets = list(ds.defs.assets or [])
        pairs = find_model_pairs(assets)
        specs = [s for a in assets for s in a.specs]
        evaluations = keys_with_role(specs, Role.EVALUATION, ds.name)
        assert evaluations and {p.evaluation for p in pairs} == set(evaluations), ds.name
        for pair in pairs:
            card = pair.card_key.to_user_string()
            assert card in names and graph.get(pair.card_key).group_name == ds.name
            # lineage: the card's parents are exactly the model and its evaluation
            assert set(graph.get(pair.card_key).parent_keys) == {pair.model, pair.evaluation}
            assert role_of(graph.get(pair.model).tags) == Role.MODEL and pair.dataset == ds.name
            assert role_of(graph.get(pair.card_key).tags) == Role.CARD
    assert "platform_footprint_log" in names and "platform_footprint" in names


def test_models_are_the_evaluations_parents_that_declare_the_model_role():
    """Roles, not names or kinds: a table named like a model is not one, a model named like a table is."""
    import dagster as dg

    @dg.asset(kinds={"parquet", "polars"}, tags=role_tags(Role.TABLE, "ds"))
    def ds_ridge_model():
        return None

    @dg.asset(kinds={"polars"}, tags=role_tags(Role.MODEL, "ds"))
    def ds_masks():
        return None

    @dg.asset(kinds={"lightgbm"}, tags=role_tags(Role.MODEL, "ds"))
    def ds_unscored_classifier():
        return None

    @dg.asset(tags=role_tags(Role.EVALUATION, "ds"), deps=[ds_ridge_model, ds_masks])
    def ds_scores():
        return None

    @dg.asset(deps=[ds_ridge_model, ds_unscored_classifier])  # no role: not an evaluation, whatever it reads
    def ds_model_evaluation():
        return None

    pairs = find_model_pairs(
        [ds_ridge_model, ds_masks, ds_unscored_classifier, ds_scores, ds_model_evaluation]
    )
    assert [(p.model.to_user_string(), p.evaluation.to_user_string(), p.dataset) for p in pairs] == [
        ("ds_masks", "ds_scores", "ds")
    ]


def test_an_evaluation_of_several_models_gives_each_its_own_metrics():
    knn, top = "geo_knn_model", "prefix/geo_top25_global"
    result = EvaluationResult(
        dataset="geo",
        split="holdout",
        metrics={
            "knn_f1_at_25": 0.3,
            "knn_recall_at_25": 0.4,
            "top25_global_f1_at_25": 0.1,
            "top25_global_recall_at_25": 0.2,
            "holdout_surveys": 40.0,
        },
        headline="knn_f1_at_25",
        higher_is_better=True,
        reference_rows=[("F1s@25", 0.287, 0.3), ("not ours", 0.362, None)],
        reference="paper",
        run="shipped sample (synthetic)",
        models={
            knn: ModelScores({"knn_f1_at_25": 0.3, "knn_recall_at_25": 0.4}, "knn_f1_at_25"),
            top: ModelScores(
                {"top25_global_f1_at_25": 0.1, "top25_global_recall_at_25": 0.2}, "top25_global_f1_at_25"
            ),
        },
    )
    # what the card reads: the typed result, back from the materialisation's metadata
    read = read_evaluation(evaluation_metadata(result))
    assert read == result
    assert read.for_model(dg_key(knn)) == ModelScores(
        {"knn_f1_at_25": 0.3, "knn_recall_at_25": 0.4}, "knn_f1_at_25"
    )
    assert read.for_model(dg_key(top)).headline_value == 0.1
    # a model the evaluation does not split out gets all metrics and the evaluation's headline
    assert read.for_model(dg_key("other")) == ModelScores(result.metrics, "knn_f1_at_25")
    with pytest.raises(ValueError, match="headline metric"):
        EvaluationResult(dataset="x", split="test", metrics={"a": 1.0}, headline="b", higher_is_better=True)


def test_an_undefined_metric_survives_the_json_round_trip():
    result = EvaluationResult(
        dataset="pcb",
        split="test",
        metrics={"mean_iou": math.nan, "kappa": 0.5},
        headline="mean_iou",
        higher_is_better=True,
    )
    md = evaluation_metadata(result)
    assert md["cdp/evaluation"].value["headline_value"] is None  # JSON has no NaN
    read = read_evaluation(md)
    assert math.isnan(read.headline_value) and read.metrics["kappa"] == 0.5
    assert read_evaluation({"headline_metric": 0.5}) is None  # flat UI entries are not the contract


def dg_key(name: str):
    import dagster as dg

    return dg.AssetKey.from_user_string(name)


def test_carbon_efficiency_classes():
    assert carbon_efficiency(None, "acc", 0.9)["label"] == "unrated"
    assert carbon_efficiency(0.05, "top1", 1.0)["label"] == "A+"
    assert carbon_efficiency(0.05, "top1", 0.25) == {
        "label": "A",
        "value": 0.2,
        "unit": "g CO2e per unit of top1",
    }
    # an error metric cannot be divided by: the label uses total grams
    rmse = carbon_efficiency(50.0, "rmse", 40.0, higher_is_better=False)
    assert rmse["label"] == "C" and rmse["value"] == 50.0 and "lower-is-better" in rmse["unit"]
    assert carbon_efficiency(5000.0, "mean_iou", 0.5)["label"] == "E"
    bounds = [b for _, b in EFFICIENCY_CLASSES]
    assert bounds == sorted(bounds) and math.isinf(bounds[-1])


def test_licences_and_dataset_ids_for_the_hub():
    assert hf_license("apache-2.0") == ("apache-2.0", None)
    assert hf_license("CC BY-NC 4.0") == ("cc-by-nc-4.0", None)
    assert hf_license("MIT") == ("mit", None)
    assert hf_license("not stated on the Zenodo record (check before redistribution)") == ("unknown", None)
    assert hf_license("Etalab Open Licence 2.0") == ("other", "Etalab Open Licence 2.0")
    assert hf_dataset_id("agbd", "https://huggingface.co/datasets/prs-eth/AGBD_raw") == "prs-eth/AGBD_raw"
    assert hf_dataset_id("cloudtracks", "https://zenodo.org/records/10042922") == "cloudtracks"


def _latest_metadata(instance, key: str) -> dict:
    import dagster as dg

    event = instance.get_latest_materialization_event(dg.AssetKey(key))
    return dict(event.asset_materialization.metadata)


def test_each_landed_dataset_has_a_card_with_the_evaluations_metrics(platform_run):
    from dagster_project.datasets import load_datasets
    from dagster_project.definitions import defs

    assert platform_run["report"].success, platform_run["report"].failures
    lake, instance = platform_run["lake"], platform_run["instance"]
    datasets = {d.name: d for d in load_datasets()}
    pairs = [p for p in find_model_pairs(list(defs.assets or [])) if p.group in platform_run["datasets"]]
    assert {p.group for p in pairs} == set(platform_run["datasets"])
    for pair in pairs:
        model = pair.model.to_user_string()
        front, body = parse_card(lake.read_bytes(f"model_cards/{model}/README.md").decode())
        assert {"license", "datasets", "metrics", "model-index", "co2_eq_emissions"} <= set(front)
        assert hf_license(datasets[pair.group].license)[0] == front["license"]
        assert set(front["co2_eq_emissions"]) == HF_CO2_KEYS
        train_md = _latest_metadata(instance, model)
        assert front["co2_eq_emissions"]["emissions"] == pytest.approx(
            train_md["footprint/co2e_kg"].value * 1000
        )
        eval_md = _latest_metadata(instance, pair.evaluation.to_user_string())
        scores = read_evaluation(eval_md).for_model(pair.model)
        expected, headline = scores.metrics, scores.headline
        card_metrics = {m["name"]: m["value"] for m in front["model-index"][0]["results"][0]["metrics"]}
        assert card_metrics == expected and sorted(front["metrics"]) == sorted(expected)
        assert f"headline `{headline}` = {card_metrics[headline]:.4g}" in body
        assert front["carbon_efficiency"]["label"] in {n for n, _ in EFFICIENCY_CLASSES}
        assert f"**{front['carbon_efficiency']['label']}**" in body and "## Intended use and limits" in body
        if len(pair.siblings) == 1:  # the evaluation's own headline, straight from its metadata
            assert card_metrics[headline] == eval_md["headline_metric"].value


def test_model_carbon_mart_has_each_cards_label(platform_run):
    lake = platform_run["lake"]
    with duckdb.connect(platform_run["warehouse"], read_only=True) as con:
        mart = pl.from_arrow(con.sql("select * from platform_model_carbon").arrow())
    assert mart.height >= len(platform_run["datasets"])
    for row in mart.iter_rows(named=True):
        front, _ = parse_card(lake.read_bytes(f"model_cards/{row['model']}/README.md").decode())
        assert row["carbon_efficiency_label"] == front["carbon_efficiency"]["label"]
        assert row["training_co2e_kg"] * 1000 == pytest.approx(front["co2_eq_emissions"]["emissions"])
        assert (
            row["training_runs"] >= 1 and row["lifetime_training_co2e_kg"] >= row["training_co2e_kg"] - 1e-15
        )
