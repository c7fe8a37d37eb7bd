"""Command line: `python -m dagster_project {prepare,run,samples}`.

- `prepare`: parse the dbt project so Dagster can load the definitions (writes dbt/target/manifest.json).
- `run [-v] [DATASET ...]`: materialise every asset of every dataset on the configured data root (default: local
  files + DuckDB + the samples in assets/) into the Dagster instance in $DAGSTER_HOME, then print a summary. The
  terminal shows one line per stage, progress, warnings and errors; the full logs go to
  $DAGSTER_HOME/logs/run-<time>-<pid>.log (printed); `-v` prints everything instead.
- `samples [NAME ...]`: regenerate the deterministic samples in assets/.
- `docs`: serve the dbt docs site (published by the `platform_dbt_docs` asset) on http://127.0.0.1:8080.
"""

import argparse
import importlib
import shutil
import signal
import sys
import time
from pathlib import Path

from dagster_project import settings


def _ensure_dagster_home() -> Path:
    home = settings.dagster_home(export=True)
    home.mkdir(parents=True, exist_ok=True)
    shipped = settings.REPO_ROOT / "deploy" / "local" / "dagster.yaml"
    if not (home / "dagster.yaml").exists():
        shutil.copy(shipped, home / "dagster.yaml")
    else:
        _add_new_instance_settings(shipped, home / "dagster.yaml")
    return home


def _add_new_instance_settings(shipped: Path, installed: Path) -> None:
    """An instance config installed by an earlier version (`make ui` copies with `cp -n`, which never updates)
    gets the top-level blocks the shipped config has gained since (e.g. run monitoring). Blocks already present,
    whatever they say, are the user's and stay as they are. A config that was not installed from this file (the
    cluster profile's, one written by hand) is left alone: its first line tells."""
    import yaml

    shipped_text, text = shipped.read_text(), installed.read_text()
    if text.partition("\n")[0] != shipped_text.partition("\n")[0]:
        return
    new = yaml.safe_load(shipped_text) or {}
    current = yaml.safe_load(text) or {}
    missing = {k: v for k, v in new.items() if k not in current}
    if not missing:
        return
    block = yaml.safe_dump(missing, sort_keys=False)
    installed.write_text(
        text.rstrip("\n")
        + f"\n# added from {shipped.relative_to(settings.REPO_ROOT)} (new settings)\n{block}"
    )
    print(
        f"{installed}: added {', '.join(missing)} from {shipped.relative_to(settings.REPO_ROOT)}", flush=True
    )


def cmd_prepare(_args) -> int:
    _ensure_dagster_home()  # `make ui` runs this first: the instance config gets any new settings
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


# Libraries the steps import lazily (seconds each); imported while a fresh checkout's dbt parse runs, when they
# cost no wall time, instead of inside the first step that needs each.
STEP_LIBRARIES = ("great_expectations", "sklearn.linear_model", "lightgbm", "scipy.optimize")


def _import_step_libraries() -> None:
    from dagster_project.plots import pyplot

    pyplot()  # matplotlib, on the backend the plots use
    for name in STEP_LIBRARIES:
        try:
            importlib.import_module(name)
        except ImportError:  # an optional library missing is the step's business, not the runner's
            pass


def cmd_run(args) -> int:
    home = _ensure_dagster_home()
    from dagster_project.dbt import prepare_manifest

    prepare_manifest(while_parsing=_import_step_libraries)
    import dagster as dg

    from dagster_project.console import Console, default_log_path
    from dagster_project.recovery import RunnerGuard, cancel_own_runs
    from dagster_project.runner import materialize_everything, print_summary

    instance = dg.DagsterInstance.get()
    t0 = time.perf_counter()
    with Console(verbose=args.verbose, log_path=default_log_path(home)) as console:
        # Ctrl-C / SIGTERM stop the run within seconds and leave no STARTED run behind (see recovery.RunnerGuard).
        with RunnerGuard(instance, say=console.say) as guard:
            try:
                report = materialize_everything(instance, datasets=args.datasets or None, console=console)
            except KeyboardInterrupt:
                guard.interrupted.set()
                report = None
            if guard.interrupted.is_set():
                cancel_own_runs(instance, "interrupted")
                console.say("interrupted: stopped; no run of this process is left in progress")
                return 128 + (guard.signum or signal.SIGINT)
        seconds = time.perf_counter() - t0
        if console.quiet:  # the per-asset table goes to the log; the terminal gets one line per dataset
            print_summary(report.summary, report.failures, seconds)
        print_summary(report.summary, report.failures, seconds, out=console.say, detailed=args.verbose)
        if console.quiet:
            console.say(f"full logs: {console.log_path}")
    return 0 if report.success else 1


def cmd_docs(args) -> int:
    """Generate the dbt docs site (if asked or missing), copy it from the data root and serve it on 127.0.0.1."""
    import functools
    import http.server

    from dagster_project.dbt import DOCS_FILES, DOCS_PREFIX, generate_docs, prepare_manifest
    from dagster_project.storage import Lake

    lake = Lake.from_env()
    if args.generate or not lake.exists(f"{DOCS_PREFIX}/index.html"):
        prepare_manifest()
        generate_docs(lake, settings.warehouse_path())
    site = settings.REPO_ROOT / ".cache" / "dbt_docs"
    site.mkdir(parents=True, exist_ok=True)
    for name in DOCS_FILES:
        (site / name).write_bytes(lake.read_bytes(f"{DOCS_PREFIX}/{name}"))
    if args.no_serve:
        print(f"dbt docs site at {site}")
        return 0
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    with http.server.ThreadingHTTPServer(("127.0.0.1", args.port), handler) as httpd:
        print(f"dbt docs: http://127.0.0.1:{args.port}/  (Ctrl-C to stop)", flush=True)
        try:
            httpd.serve_forever()
        except KeyboardInterrupt:
            pass
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dagster_project")
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("prepare", help="parse the dbt project (manifest for Dagster)")
    run = sub.add_parser("run", help="materialise every asset on the configured data root")
    run.add_argument("datasets", nargs="*", help="only these datasets (default: all)")
    run.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="print the full logs (Dagster events, dbt) and per-asset table",
    )
    samples = sub.add_parser("samples", help="regenerate the samples in assets/")
    samples.add_argument("names", nargs="*")
    docs = sub.add_parser("docs", help="serve the dbt docs site on http://127.0.0.1:8080")
    docs.add_argument("--port", type=int, default=8080)
    docs.add_argument("--generate", action="store_true", help="regenerate from the warehouse first")
    docs.add_argument("--no-serve", action="store_true", help="only fetch the site into .cache/dbt_docs")
    args = parser.parse_args(argv)
    return {"prepare": cmd_prepare, "run": cmd_run, "samples": cmd_samples, "docs": cmd_docs}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
