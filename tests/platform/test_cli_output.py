"""`python -m dagster_project run` keeps the terminal readable: one line per stage, progress, warnings and errors,
a per-dataset summary, and the path of a log file holding everything else (Dagster events, dbt logs)."""

import os
import subprocess
import sys

import dagster as dg

from dagster_project.console import Console
from dagster_project.runner import AssetSummary, print_summary, run_warnings
from dagster_project.settings import REPO_ROOT


def test_quiet_run_prints_stages_and_summary_and_logs_everything_to_a_file(tmp_path):
    home = tmp_path / "home"
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "CDP_DATA_ROOT": str(tmp_path / "lake"),
        "CDP_WAREHOUSE_PATH": str(tmp_path / "warehouse.duckdb"),
        "CDP_CACHE_DIR": str(tmp_path / "cache"),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "dagster_project", "run", "exionaics"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout.splitlines()
    # Nothing from Dagster's event stream or dbt reaches the terminal.
    assert not [line for line in out if " - DEBUG - " in line or "STEP_START" in line], out
    assert proc.stderr.strip() == "", proc.stderr[-2000:]
    assert len(out) <= 25, "\n".join(out)
    assert any(line.startswith("==> materialising") for line in out)
    assert any(line.startswith("exionaics ") for line in out), out  # the per-dataset summary line
    assert any("exionaics_model_evaluation:" in line for line in out)  # its headline metric
    log_lines = [line for line in out if line.startswith("full logs: ")]
    assert log_lines, out
    log = open(log_lines[-1].removeprefix("full logs: ")).read()
    assert "STEP_START" in log and "dbt" in log  # the full event stream and dbt's output went to the file
    assert "exionaics_naics_classifier" in log  # the per-asset summary table is in the log


def test_run_warnings_surfaces_warnings_and_step_errors_once(tmp_path):
    @dg.asset
    def warns(context: dg.AssetExecutionContext) -> None:
        context.log.info("routine progress")
        context.log.warning("3 rows had no district; fell back to region")
        context.log.warning("3 rows had no district; fell back to region")

    @dg.asset(deps=[warns])
    def breaks() -> None:
        raise ValueError("board pcb7: mask value 7 not in {0,1,2,3}")

    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        result = dg.materialize([warns, breaks], instance=instance, raise_on_error=False)
        lines = run_warnings(instance, result.run_id)
    assert "WARNING warns: 3 rows had no district; fell back to region" in lines
    assert sum("fell back to region" in line for line in lines) == 1
    assert not any("routine progress" in line for line in lines)
    assert any(line.startswith("ERROR breaks:") and "mask value 7" in line for line in lines), lines


def test_compact_summary_is_one_block_per_dataset_with_headlines():
    rows = [
        AssetSummary("a_raw_files", "a", rows=10, checks_passed=2),
        AssetSummary("a_model_evaluation", "a", headline="rmse=3.1"),
        AssetSummary("b_table", "b", rows=5, partitions=3, checks_failed=1),
    ]
    out: list[str] = []
    print_summary(rows, ["check x on b_table failed"], 12.0, out=out.append, detailed=False)
    text = "\n".join(out)
    assert "a_raw_files" not in text  # no per-asset rows in the compact form
    assert "a_model_evaluation: rmse=3.1" in text
    assert any(line.startswith("b ") and "0/1" in line for line in out)
    assert "FAILURES:" in text and "check x on b_table failed" in text


def test_verbose_console_leaves_the_terminal_alone(capsys):
    with Console(verbose=True, log_path=None) as console:
        console.say("stage line")
        print("dagster event line")
    captured = capsys.readouterr().out
    assert "stage line" in captured and "dagster event line" in captured
    assert not console.quiet
