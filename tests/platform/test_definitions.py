"""The code location loads, its asset graph matches the reviewed snapshot, and each dataset's lineage is one
connected graph from raw files to model evaluation."""

import os
from pathlib import Path

import pytest

SNAPSHOTS = Path(__file__).resolve().parent.parent / "snapshots"


def _graph():
    from dagster_project.definitions import defs

    return defs, defs.resolve_asset_graph()


def _render(graph, group: str) -> str:
    lines = []
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        if node.group_name != group:
            continue
        parents = ", ".join(sorted(p.to_user_string() for p in node.parent_keys))
        checks = ", ".join(sorted(c.name for c in node.check_keys))
        lines.append(f"{key.to_user_string()} <- [{parents}]" + (f" checks: [{checks}]" if checks else ""))
    return "\n".join(lines) + "\n"


def _datasets():
    from dagster_project.datasets import load_datasets

    return [d.name for d in load_datasets()]


def test_definitions_load_with_every_dataset():
    defs, graph = _graph()
    groups = {graph.get(k).group_name for k in graph.get_all_asset_keys()}
    assert set(_datasets()) <= groups
    assert "exionaics" in groups
    for name in ("lake", "io_manager", "warehouse", "dbt", "credentials"):
        assert name in defs.resources


@pytest.mark.parametrize("dataset", _datasets())
def test_asset_graph_snapshot(dataset):
    """Update after a reviewed change with CDP_UPDATE_SNAPSHOTS=1."""
    _defs, graph = _graph()
    rendered = _render(graph, dataset)
    path = SNAPSHOTS / f"{dataset}_asset_graph.txt"
    if os.environ.get("CDP_UPDATE_SNAPSHOTS"):
        path.write_text(rendered)
    assert path.exists(), f"no snapshot for {dataset}: run the tests once with CDP_UPDATE_SNAPSHOTS=1"
    assert rendered == path.read_text()


@pytest.mark.parametrize("dataset", _datasets())
def test_lineage_is_connected_from_raw_to_evaluation(dataset):
    _defs, graph = _graph()
    keys = [k for k in graph.get_all_asset_keys() if graph.get(k).group_name == dataset]
    names = {k.to_user_string(): k for k in keys}
    raw = [k for n, k in names.items() if n.startswith(f"{dataset}_raw")]
    evaluations = [k for n, k in names.items() if n.endswith("evaluation")]
    assert raw and evaluations, f"{dataset}: needs a raw asset and an evaluation asset"
    for ev in evaluations:
        ancestors, frontier = set(), [ev]
        while frontier:
            for parent in graph.get(frontier.pop()).parent_keys:
                if parent not in ancestors:
                    ancestors.add(parent)
                    frontier.append(parent)
        assert any(r in ancestors for r in raw), f"{ev.to_user_string()} is not downstream of the raw files"
        dbt_ancestors = [a for a in ancestors if "dbt" in (graph.get(a).kinds or set())]
        assert dbt_ancestors, f"{ev.to_user_string()} does not go through the dbt warehouse"


def test_the_dbt_parse_runs_beside_other_work_and_is_stopped_with_it():
    """`prepare_manifest(while_parsing=...)` (what `python -m dagster_project run` imports its step libraries in)
    calls it while the dbt parse runs, and an error there stops the parse and leaves the manifest as it was."""
    import psutil

    from dagster_project.dbt import prepare_manifest

    manifest = prepare_manifest()
    before = manifest.stat().st_mtime_ns
    seen = []

    def while_parsing():
        seen.extend(
            p.pid for p in psutil.Process().children() if "parse" in p.cmdline() and p.status() != "zombie"
        )
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):
        prepare_manifest(force=True, while_parsing=while_parsing)
    assert len(seen) == 1  # the dbt parse was running meanwhile
    assert not psutil.pid_exists(seen[0]) or psutil.Process(seen[0]).status() == "zombie"
    assert manifest.stat().st_mtime_ns == before


def test_every_dbt_test_reads_only_models_built_before_the_model_it_checks():
    """A dbt test that reads another model (`relationships`) runs as a check of the model it is attached to; that
    other model must be upstream of it, or the automation may build the checked model first and the test fails on
    a missing table (seen in the sensors' bring-up: pcbvision_training_set before pcbvision_board_stats)."""
    import json

    from dagster_project.automation import ancestors
    from dagster_project.dbt import prepare_manifest

    manifest = json.loads(prepare_manifest().read_text())

    late = {}
    for unique_id, node in manifest["nodes"].items():
        attached = node.get("attached_node")
        if node["resource_type"] != "test" or not attached:
            continue
        upstream = ancestors(manifest["parent_map"], attached)
        missing = [d for d in node["depends_on"]["nodes"] if d != attached and d not in upstream]
        if missing:
            late[unique_id] = missing
    assert not late, f"tests reading models not upstream of the model they check: {late}"
