"""Command line: `python -m dagster_project {prepare,run,samples}`.

- `prepare`: parse the dbt project so Dagster can load the definitions (writes dbt/target/manifest.json).
- `run`: materialise every asset of every dataset on the configured data root (default: local files + DuckDB +
  the samples in assets/) into the Dagster instance in $DAGSTER_HOME, then print a summary table.
- `samples [NAME ...]`: regenerate the deterministic samples in assets/.
"""

import argparse
import importlib
import os
import shutil
import sys
import time
from pathlib import Path

from dagster_project import settings


def _ensure_dagster_home() -> Path:
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(settings.REPO_ROOT / ".dagster_home")))
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        shutil.copy(settings.REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    return home


def cmd_prepare(_args) -> int:
    from dagster_project.dbt import prepare_manifest

    path = prepare_manifest(force=True)
    print(f"dbt manifest ready: {path}")
    return 0


def cmd_samples(args) -> int:
    from dagster_project.datasets import load_datasets

    names = args.names or [d.name for d in load_datasets()]
    for name in names:
        module = importlib.import_module(f"dagster_project.datasets.{name}.sample")
        dest = settings.SAMPLES_DIR / name
        module.write_sample(dest)
        print(f"wrote sample {dest}")
    return 0


def cmd_run(args) -> int:
    _ensure_dagster_home()
    from dagster_project.dbt import prepare_manifest

    prepare_manifest()
    import dagster as dg

    from dagster_project.runner import materialize_everything, print_summary

    instance = dg.DagsterInstance.get()
    t0 = time.perf_counter()
    report = materialize_everything(instance, datasets=args.datasets or None)
    print_summary(report.summary, report.failures, time.perf_counter() - t0)
    return 0 if report.success else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dagster_project")
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("prepare", help="parse the dbt project (manifest for Dagster)")
    run = sub.add_parser("run", help="materialise every asset on the configured data root")
    run.add_argument("datasets", nargs="*", help="only these datasets (default: all)")
    samples = sub.add_parser("samples", help="regenerate the samples in assets/")
    samples.add_argument("names", nargs="*")
    args = parser.parse_args(argv)
    return {"prepare": cmd_prepare, "run": cmd_run, "samples": cmd_samples}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
