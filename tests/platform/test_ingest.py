"""The shared ingest path: the raw-files factory (role tag, manifest metadata with new/changed files) and the
validated-table helper (role tag, blocking check that stops what reads a bad table), on a real Dagster instance."""

import dagster as dg
import polars as pl

from dagster_project.ingest import Table, raw_files_asset, table_asset
from dagster_project.io_managers import LakeIOManager
from dagster_project.raw import raw_relpath
from dagster_project.resources import SourceCredentials
from dagster_project.roles import Role, keys_with_role
from dagster_project.storage import Lake
from dagster_project.validation import Rule, validate_frame

DS = "demoingest"
demoingest_raw_files = raw_files_asset(DS, kinds={"python", "csv"}, description="Demo files, as received.")


@table_asset("demoingest_values", dataset=DS, check_description="value is never negative.")
def demoingest_values(lake: Lake, demoingest_raw_files: pl.DataFrame) -> Table:
    """Every row of every raw CSV."""
    frames = [
        pl.read_csv(lake.read_bytes(raw_relpath(DS, f))).with_columns(source_file=pl.lit(f))
        for f in sorted(demoingest_raw_files["relpath"].to_list())
    ]
    df = pl.concat(frames).with_row_index("source_row")
    rules = [Rule("ExpectColumnValuesToBeBetween", {"column": "value", "min_value": 0})]
    return Table(df, validate_frame(df, suite="demoingest_values", rules=rules), {"files": len(frames)})


@dg.asset(name="demoingest_total", group_name=DS)
def demoingest_total(demoingest_values: pl.DataFrame) -> int:
    return int(demoingest_values["value"].sum())


ASSETS = [demoingest_raw_files, demoingest_values, demoingest_total]


def _run(instance, lake: Lake, source) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        ASSETS,
        instance=instance,
        resources={"lake": lake, "io_manager": LakeIOManager(lake=lake), "credentials": SourceCredentials()},
        run_config={"ops": {"demoingest_raw_files": {"config": {"location": str(source)}}}},
        raise_on_error=False,
    )


def _meta(result, key: str) -> dict:
    (mat,) = [
        e.materialization
        for e in result.get_asset_materialization_events()
        if e.asset_key.to_user_string() == key
    ]
    return {k: v.value for k, v in mat.metadata.items()}


def test_raw_files_and_validated_table_share_one_ingest_path(tmp_path, cdp_env):
    specs = [s for a in ASSETS for s in a.specs]
    assert keys_with_role(specs, Role.RAW, DS) == [dg.AssetKey("demoingest_raw_files")]
    assert keys_with_role(specs, Role.TABLE, DS) == [dg.AssetKey("demoingest_values")]
    (check,) = demoingest_values.check_specs
    assert check.name == "demoingest_values_valid" and check.blocking

    src = tmp_path / "source"
    src.mkdir()
    (src / "a.csv").write_text("value\n1\n2\n")
    (src / "b.csv").write_text("value\n3\n")
    lake = Lake(root=str(tmp_path / "lake"))
    with dg.instance_for_test() as instance:
        first = _run(instance, lake, src)
        assert first.success
        raw = _meta(first, "demoingest_raw_files")
        assert (raw["files_new"], raw["files_changed"], raw["files_unchanged"]) == (2, 0, 0)
        assert raw["total_bytes"] == len("value\n1\n2\n") + len("value\n3\n") and raw["source"] == str(src)
        table = _meta(first, "demoingest_values")
        assert table["dagster/row_count"] == 3 and table["files"] == 2 and "preview" in table
        assert first.output_for_node("demoingest_total") == 6

        (src / "b.csv").write_text("value\n-4\n")  # a changed file breaks the rule
        second = _run(instance, lake, src)
        raw = _meta(second, "demoingest_raw_files")
        assert (raw["files_new"], raw["files_changed"], raw["files_unchanged"]) == (0, 1, 1)
        (evaluation,) = second.get_asset_check_evaluations()
        assert evaluation.check_name == "demoingest_values_valid" and not evaluation.passed
        # the blocking check stops what reads the bad table
        assert not second.success
        assert "demoingest_total" not in {
            e.asset_key.to_user_string() for e in second.get_asset_materialization_events()
        }
