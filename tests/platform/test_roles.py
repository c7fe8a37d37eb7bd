"""Every asset declares what it is for (`cdp/role`, dagster_project/roles.py) and, when it belongs to a dataset,
which one (`cdp/dataset`): the cards, the run summary and the retrain selection find assets by role, never by
name, so an asset without a role would silently drop out of them."""

import dagster as dg
import pytest

from dagster_project.roles import DATASET_TAG, ROLE_TAG, Role


def test_every_asset_declares_exactly_one_role_and_its_dataset():
    from dagster_project.datasets import load_datasets
    from dagster_project.definitions import defs

    datasets = {d.name for d in load_datasets()}
    graph = defs.resolve_asset_graph()
    missing, wrong = [], []
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        if not node.is_materializable:
            continue
        name, tags = key.to_user_string(), dict(node.tags or {})
        roles = [v for k, v in tags.items() if k == ROLE_TAG]
        if not roles:
            missing.append(name)
            continue
        (role,) = roles  # a tag key is unique: exactly one role
        if role not in set(Role):
            wrong.append(f"{name}: unknown role {role!r}")
        # an asset of a dataset's group names that dataset; platform assets name none
        expected = node.group_name if node.group_name in datasets else None
        if tags.get(DATASET_TAG) != expected:
            wrong.append(f"{name}: {DATASET_TAG}={tags.get(DATASET_TAG)!r}, group {node.group_name!r}")
    assert not missing, f"assets without a {ROLE_TAG} tag: {sorted(missing)}"
    assert not wrong, wrong


def test_each_dataset_declares_the_roles_of_its_pipeline():
    """Each dataset has models, an evaluation, its card and dbt marts, found by role (what the cards, the summary
    and the automation rely on); the dbt translator tags marts with the dataset of their folder."""
    from dagster_project.datasets import load_datasets
    from dagster_project.definitions import defs
    from dagster_project.roles import keys_with_role

    graph = defs.resolve_asset_graph()
    nodes = [graph.get(k) for k in graph.get_all_asset_keys()]
    for ds in load_datasets():
        for role in (Role.MODEL, Role.EVALUATION, Role.CARD, Role.MART):
            assert keys_with_role(nodes, role, ds.name), f"{ds.name}: no asset declares {role}"
    assert dg.AssetKey("platform_footprint_log") in keys_with_role(nodes, Role.LOG)
    assert dg.AssetKey("platform_dbt_docs") in keys_with_role(nodes, Role.DOCS)
    assert dg.AssetKey("platform_model_cards") in keys_with_role(nodes, Role.CARD)
    platform_marts = keys_with_role(nodes, Role.MART)
    assert dg.AssetKey("platform_footprint") in platform_marts
    assert graph.get(dg.AssetKey("platform_footprint")).tags.get(DATASET_TAG) is None


MODEL = dg.AssetKey("exionaics_naics_classifier")
EVALUATION = dg.AssetKey("exionaics_model_evaluation")
# Names that no suffix or prefix rule would recognise: a key prefix on the model, no "evaluation" in the other.
RENAMED_MODEL = dg.AssetKey(["lab", "sector_fit"])
RENAMED_EVALUATION = dg.AssetKey("exionaics_scores")


def _renamed_exionaics(datasets):
    import dataclasses

    ds = next(d for d in datasets if d.name == "exionaics")
    replacements = {MODEL: RENAMED_MODEL, EVALUATION: RENAMED_EVALUATION}
    assets = [
        a.with_attributes(asset_key_replacements=replacements) if isinstance(a, dg.AssetsDefinition) else a
        for a in ds.defs.assets or []
    ]
    defs = dg.Definitions(
        assets=assets,
        asset_checks=ds.defs.asset_checks,
        sensors=ds.defs.sensors,
        schedules=ds.defs.schedules,
        jobs=ds.defs.jobs,
    )
    return dataclasses.replace(ds, defs=defs)


@pytest.mark.slow  # one ExioNAICS run end to end with dbt (about a minute on two cores)
def test_renamed_model_and_evaluation_keep_their_card_summary_and_retrain(tmp_path, monkeypatch):
    """The Definitions built with ExioNAICS's model and evaluation renamed (and the model under a key prefix):
    the model card, the weekly retrain job, the retrain automation condition and the run summary's headline all
    follow, because they find the assets by role and lineage."""
    from dagster_project import definitions
    from dagster_project.evaluation import read_evaluation
    from dagster_project.io_managers import LakeIOManager
    from dagster_project.model_cards import find_model_pairs, parse_card
    from dagster_project.runner import materialize_everything
    from dagster_project.storage import Lake
    from dagster_project.warehouse import Warehouse
    from tests.support.selection import upstream_definitions

    monkeypatch.setattr(definitions, "DATASETS", [_renamed_exionaics(definitions.DATASETS)])
    defs = definitions.build_definitions()
    graph = defs.resolve_asset_graph()
    keys = graph.get_all_asset_keys()
    assert MODEL not in keys and EVALUATION not in keys
    (pair,) = find_model_pairs(list(defs.assets))
    assert (pair.model, pair.evaluation, pair.dataset) == (RENAMED_MODEL, RENAMED_EVALUATION, "exionaics")
    card = dg.AssetKey(["lab", "sector_fit_card"])
    assert set(graph.get(card).parent_keys) == {RENAMED_MODEL, RENAMED_EVALUATION}

    # retrain selection: the weekly job and the content-change condition cover the renamed pair
    weekly = defs.get_repository_def().get_job("weekly_retrain").asset_layer.executable_asset_keys
    assert {RENAMED_MODEL, RENAMED_EVALUATION, card} <= set(weekly)
    for key in (RENAMED_MODEL, RENAMED_EVALUATION):
        assert graph.get(key).automation_condition.get_label() == "retrain_on_changed_data_or_retry"

    # a run up to the model card (nothing downstream of it is asserted): the summary shows the evaluation's
    # headline, the card carries its metrics
    monkeypatch.setenv("CDP_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "home").mkdir()
    lake = Lake(root=str(tmp_path / "lake"))
    instance = dg.DagsterInstance.local_temp(
        tempdir=str(tmp_path / "home"), overrides={"telemetry": {"enabled": False}}
    )
    with instance:
        report = materialize_everything(
            instance,
            datasets=["exionaics"],  # the model card is in the dataset's group
            defs=upstream_definitions(defs, [card]),
            resources={
                "lake": lake,
                "io_manager": LakeIOManager(lake=lake),
                "warehouse": Warehouse(path=str(tmp_path / "warehouse.duckdb")),
            },
        )
        assert report.success, report.failures
        result = read_evaluation(instance.get_latest_materialization_event(RENAMED_EVALUATION))
    assert result is not None and result.headline == "top1_naics6"
    summary = {s.key: s for s in report.summary}
    assert summary["exionaics_scores"].headline == f"top1_naics6={result.headline_value:.4g}"
    front, body = parse_card(lake.read_bytes("model_cards/lab__sector_fit/README.md").decode())
    metrics = {m["name"]: m["value"] for m in front["model-index"][0]["results"][0]["metrics"]}
    assert metrics == pytest.approx(result.metrics) and metrics["top1_naics6"] == result.headline_value
    assert front["model-index"][0]["name"] == "lab/sector_fit" and "`exionaics_scores`" in body
