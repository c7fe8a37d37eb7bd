"""Model cards: found from the asset graph for every dataset, Hugging Face front matter whose metrics are the
evaluation's, the carbon-efficiency label in the card and in the `platform_model_carbon` mart."""

import math

import duckdb
import polars as pl
import pytest

from dagster_project.model_cards import (
    EFFICIENCY_CLASSES,
    ModelPair,
    carbon_efficiency,
    find_model_pairs,
    hf_dataset_id,
    hf_license,
    metrics_for_model,
    numeric_metrics,
    parse_card,
)

HF_CO2_KEYS = {"emissions", "source", "training_type", "geographical_location", "hardware_used"}


def test_every_evaluated_model_gets_exactly_one_card():
    from dagster_project.datasets import load_datasets
    from dagster_project.definitions import defs

    graph = defs.resolve_asset_graph()
    names = {k.to_user_string() for k in graph.get_all_asset_keys()}
    for ds in load_datasets():
        assets = list(ds.defs.assets or [])
        pairs = find_model_pairs(assets)
        evaluations = [n for n in names if n.startswith(ds.name) and n.endswith("evaluation")]
        assert bool(pairs) == bool(evaluations), ds.name
        for pair in pairs:
            card = pair.card_key.to_user_string()
            assert card in names and graph.get(pair.card_key).group_name == ds.name
            # lineage: the card's parents are exactly the model and its evaluation
            assert set(graph.get(pair.card_key).parent_keys) == {pair.model, pair.evaluation}
            assert not pair.model.to_user_string().endswith(("_masks", "_pixels", "_training_set"))
    assert "platform_footprint_log" in names and "platform_footprint" in names


def test_tables_feeding_an_evaluation_are_not_models():
    import dagster as dg

    @dg.asset(kinds={"parquet", "polars"})
    def ds_masks():
        return None

    @dg.asset(kinds={"python"})
    def ds_top25_global():
        return None

    @dg.asset(kinds={"lightgbm"})
    def ds_pixel_classifier():
        return None

    @dg.asset(kinds={"polars"})
    def ds_ridge_model():
        return None

    @dg.asset(deps=[ds_masks, ds_top25_global, ds_pixel_classifier, ds_ridge_model])
    def ds_model_evaluation():
        return None

    pairs = find_model_pairs(
        [ds_masks, ds_top25_global, ds_pixel_classifier, ds_ridge_model, ds_model_evaluation]
    )
    assert sorted(p.model.to_user_string() for p in pairs) == [
        "ds_pixel_classifier",
        "ds_ridge_model",
        "ds_top25_global",
    ]
    assert {p.evaluation.to_user_string() for p in pairs} == {"ds_model_evaluation"}


def test_an_evaluation_of_several_models_gives_each_its_own_metrics():
    import dagster as dg

    keys = [dg.AssetKey(n) for n in ("geo_knn_model", "geo_top25_global")]
    metrics = {
        "knn_f1_at_25": 0.3,
        "knn_recall_at_25": 0.4,
        "top25_global_f1_at_25": 0.1,
        "top25_global_recall_at_25": 0.2,
        "holdout_surveys": 40.0,
    }
    knn = ModelPair(keys[0], dg.AssetKey("geo_model_evaluation"), "geo", tuple(keys))
    top = ModelPair(keys[1], dg.AssetKey("geo_model_evaluation"), "geo", tuple(keys))
    assert metrics_for_model(knn, metrics, "knn_f1_at_25") == (
        {"knn_f1_at_25": 0.3, "knn_recall_at_25": 0.4},
        "knn_f1_at_25",
    )
    own, headline = metrics_for_model(top, metrics, "knn_f1_at_25")
    assert own == {"top25_global_f1_at_25": 0.1, "top25_global_recall_at_25": 0.2}
    assert headline == "top25_global_f1_at_25"
    single = ModelPair(keys[0], dg.AssetKey("geo_model_evaluation"), "geo", (keys[0],))
    assert metrics_for_model(single, metrics, "knn_f1_at_25") == (metrics, "knn_f1_at_25")


def test_carbon_efficiency_classes():
    assert carbon_efficiency(None, "acc", 0.9)["label"] == "unrated"
    assert carbon_efficiency(0.05, "top1", 1.0)["label"] == "A+"
    assert carbon_efficiency(0.05, "top1", 0.25) == {
        "label": "A",
        "value": 0.2,
        "unit": "g CO2e per unit of top1",
    }
    # an error metric cannot be divided by: the label uses total grams
    rmse = carbon_efficiency(50.0, "rmse", 40.0)
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
        expected, headline = metrics_for_model(
            pair, numeric_metrics(eval_md), eval_md["headline_metric_name"].value
        )
        card_metrics = {m["name"]: m["value"] for m in front["model-index"][0]["results"][0]["metrics"]}
        assert card_metrics == expected and sorted(front["metrics"]) == sorted(expected)
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
