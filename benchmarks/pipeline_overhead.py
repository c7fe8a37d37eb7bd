"""Orchestration overhead: the whole sample pipeline (`python -m dagster_project run`, every dataset, 80+ assets
on the shipped samples) with this checkout's code against the same command on a baseline commit, both measured
in this run on this machine, each on a fresh instance, data root and warehouse.

    .venv/bin/python -m benchmarks.pipeline_overhead                 # baseline = BASELINE_REF (main before issue 17)
    .venv/bin/python -m benchmarks.pipeline_overhead --baseline-ref HEAD~3 --repeat 2 exionaics pcbvision

The baseline's tree is exported with `git archive` into a temporary folder and run from there with the same
virtualenv (its `dagster_project` shadows the editable install because it is first on sys.path). The samples are
small, so the time is almost all orchestration: process starts, imports, dbt parses and invocations. Target
(issue 17): ours <= 0.5x the baseline's wall time, i.e. a speed-up of >= 2.0x.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import harness

REPO = Path(__file__).resolve().parent.parent
# main as it landed before the orchestration work of issue 17 (commit "raw: one helper (raw_relpath) ...").
BASELINE_REF = "b270d6a"
TARGET_SPEEDUP = 2.0


def export_tree(ref: str, dest: Path) -> Path:
    dest.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", ref], cwd=REPO, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


def timed_run(tree: Path, scratch: Path, datasets: list[str]) -> tuple[float, str]:
    """Wall seconds of `python -m dagster_project run` from `tree` on a fresh instance and data root."""
    scratch.mkdir(parents=True)
    env = {
        **os.environ,
        "DAGSTER_HOME": str(scratch / "home"),
        "CDP_DATA_ROOT": str(scratch / "lake"),
        "CDP_WAREHOUSE_PATH": str(scratch / "warehouse.duckdb"),
        "CDP_CACHE_DIR": str(scratch / "cache"),
        "PYTHONPATH": str(tree),
    }
    env.pop("CDP_PROFILE", None)
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "dagster_project", "run", *datasets],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"run from {tree} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return seconds, proc.stdout


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("datasets", nargs="*", help="only these datasets (default: all)")
    parser.add_argument("--baseline-ref", default=BASELINE_REF)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each; the fastest is kept")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cdp-overhead-") as tmp:
        base_tree = export_tree(args.baseline_ref, Path(tmp) / "baseline")
        timings: dict[str, list[float]] = {"baseline": [], "ours": []}
        for i in range(args.repeat):  # interleaved, so drift in the machine's load hits both alike
            for label, tree in (("baseline", base_tree), ("ours", REPO)):
                seconds, _ = timed_run(tree, Path(tmp) / f"{label}-{i}", args.datasets)
                timings[label].append(seconds)
                print(f"{label:9} run {i + 1}: {seconds:6.1f} s", flush=True)
    base, ours = min(timings["baseline"]), min(timings["ours"])
    size = ", ".join(args.datasets) if args.datasets else "all datasets, samples"
    harness.record_target(
        "sample pipeline (make run)",
        size,
        f"{ours:.1f} s",
        f"{base:.1f} s ({args.baseline_ref})",
        base / ours,
        None,
        f"wall time <= 0.5x baseline (speed-up >= {TARGET_SPEEDUP:.1f}x)",
        base / ours >= TARGET_SPEEDUP,
    )


if __name__ == "__main__":
    main()
