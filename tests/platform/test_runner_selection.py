"""The runner runs part of an asset graph (what `materialize_dataset(..., upto=[...])` in tests/conftest.py passes
it): only the selected assets and their ancestors, in its usual stages, also when the selection ends at a
partitioned asset (no stage after the partitioned ones)."""

import dagster as dg

from dagster_project.runner import materialize_everything
from tests.support.selection import upstream_definitions

PARTS = dg.StaticPartitionsDefinition(["a", "b"])


@dg.asset(group_name="tiny")
def tiny_source() -> int:
    return 1


@dg.asset(group_name="tiny", partitions_def=PARTS)
def tiny_part(tiny_source: int) -> int:
    return tiny_source + 1


@dg.asset(group_name="tiny")
def tiny_after(tiny_part: dict) -> int:
    return sum(tiny_part.values())


def _run(tmp_path, name: str, defs: dg.Definitions) -> dict[str, int]:
    (tmp_path / name).mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / name)) as instance:
        report = materialize_everything(instance, datasets=["tiny"], defs=defs, console=None)
    assert report.success, report.failures
    return {s.key: s.partitions for s in report.summary}


def test_a_selection_ending_at_a_partitioned_asset_runs_only_it_and_its_sources(tmp_path):
    defs = dg.Definitions(
        assets=[tiny_source, tiny_part, tiny_after],
        resources={"io_manager": dg.FilesystemIOManager(base_dir=str(tmp_path / "store"))},
    )
    assert _run(tmp_path, "part", upstream_definitions(defs, ["tiny_part"])) == {
        "tiny_source": 0,
        "tiny_part": 2,
    }
    assert _run(tmp_path, "all", defs) == {"tiny_source": 0, "tiny_part": 2, "tiny_after": 0}
