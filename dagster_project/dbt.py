"""dbt wiring: one dbt project (`dbt/`) whose models become Dagster assets with one connected lineage graph.

- dbt sources carry `meta.dagster.asset_key`, so they resolve to the Python assets that write their parquet.
- Each model's asset key is its dbt name (`exionaics_training_set`), its group the dataset folder it lives in
  (`models/<layer>/<dataset>/`), and dbt tests become asset checks.
- Every DuckDB writer runs in the `duckdb` concurrency pool, limited to 1 in the shipped `dagster.yaml`.
"""

import functools
import hashlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    DbtProject,
    dbt_assets,
)
from packaging import version

from dagster_project import settings
from dagster_project.datasets import dbt_model_paths
from dagster_project.dbt_worker import launcher, plain_dbt
from dagster_project.footprint import PLATFORM_GROUP  # also dbt/models/<layer>/platform: of no dataset
from dagster_project.roles import Role, role_tags
from dagster_project.storage import Lake
from dagster_project.warehouse import Warehouse

DUCKDB_POOL = "duckdb"
PARTIAL_PARSE_FILE = "partial_parse.msgpack"
# dbt's parse, kept per (vars, target): dbt reuses a parse only when both match (it re-parses everything otherwise,
# seconds of CPU for ~650 nodes), and every data root and warehouse path passes its own vars.
PARSE_CACHE_DIR = "partial_parse"
PARSE_CACHE_KEEP = 16
LAYERS = ("staging", "intermediate", "marts")


LINKED_MODELS_DIR = "target/dataset_models"


def dataset_model_paths() -> list[str]:
    """dbt model-paths (relative to the dbt project) of the models dataset packages ship in `<package>/dbt/models`.
    Each folder is reached through a link under `dbt/target/dataset_models/`: dbt writes compiled SQL under
    `target/compiled/<original path>`, so a model path outside the project would have it write beside the
    package's own files."""
    out = []
    for folder in dbt_model_paths():
        rel = f"{LINKED_MODELS_DIR}/{hashlib.sha1(folder.encode()).hexdigest()[:12]}"
        link = settings.DBT_PROJECT_DIR / rel
        if not (link.is_symlink() and os.readlink(link) == folder):
            link.parent.mkdir(parents=True, exist_ok=True)
            tmp = link.with_name(f".{link.name}.{os.getpid()}")
            tmp.unlink(missing_ok=True)
            tmp.symlink_to(folder, target_is_directory=True)
            os.replace(tmp, link)  # atomic: a concurrent parse sees the old link or the new one
        out.append(rel)
    return out


def _target_path() -> str:
    """dbt's target folder: `target`, or one of its own when dataset packages ship dbt models (the manifest then
    holds their models too, and must not be mistaken for the platform's own)."""
    extra = dbt_model_paths()
    return (
        f"target/datasets-{hashlib.sha1(json.dumps(extra).encode()).hexdigest()[:12]}" if extra else "target"
    )


@functools.cache
def _project(target_path: str) -> DbtProject:
    return DbtProject(
        project_dir=settings.DBT_PROJECT_DIR, profiles_dir=settings.DBT_PROJECT_DIR, target_path=target_path
    )


def dbt_project() -> DbtProject:
    """The dbt project, its target folder chosen for the dataset packages configured now."""
    return _project(_target_path())


# dbt writes every event at debug level, as JSON, to `dbt.log` in the log path: in one profile a fifth of a `dbt
# build`'s time. The platform's dbt processes put that file in a folder removed right after (the events Dagster
# shows come from stdout), so it is not written at all.
NO_FILE_LOG = ("--log-level-file", "none")


def dbt_executable() -> str:
    """What the platform runs dbt commands with: `cdp-dbt`, which is dbt run by the run's dbt worker when there is
    one and plain dbt otherwise (`dagster_project/dbt_worker.py`); plain dbt where it is not installed."""
    return launcher() or plain_dbt()


def dbt_vars(lake: Lake, warehouse_path: str | None = None) -> dict[str, str]:
    path = warehouse_path or settings.warehouse_path()
    # DuckDB cannot create a file in a missing folder, and dbt-duckdb would retry that for minutes.
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    # dbt_project.yml adds `dataset_model_paths` to its model-paths: the dbt models dataset packages ship.
    return {"data_root": lake.url(), "warehouse_path": path, "dataset_model_paths": dataset_model_paths()}


def dbt_target(lake: Lake) -> str:
    return "s3" if lake.root.startswith("s3://") else "local"


def project_args(target_path: Path | str, vars_json: str, target: str) -> list[str]:
    """The arguments every platform dbt command outside dagster-dbt passes: the project, its profiles, a target
    folder of its own (also its log folder: dbt/logs/dbt.log is shared with every other dbt process), no log file,
    the vars and the target."""
    return [
        "--project-dir",
        str(dbt_project().project_dir),
        "--profiles-dir",
        str(dbt_project().profiles_dir),
        "--target-path",
        str(target_path),
        "--log-path",
        str(target_path),
        *NO_FILE_LOG,
        "--vars",
        vars_json,
        "--target",
        target,
    ]


def parse_command(target_path: Path, vars_json: str, target: str) -> list[str]:
    """`dbt parse` of the platform's project into `target_path`, with these vars and target."""
    return [dbt_executable(), "parse", "--quiet", *project_args(target_path, vars_json, target)]


def parse_in_worker(lake: Lake, warehouse_path: str) -> int:
    """Parse the project with a run's vars and target through `cdp-dbt`, so that the run's dbt worker holds that
    parse for the run's dbt commands (`dagster_project/dbt_worker.py`). Starts from the last parse made with them
    (`restore_parse`), and keeps the new one for the next run. dbt's exit code (a broken project fails here and
    again, with the error in its step, when the step runs)."""
    import tempfile

    vars_json, target = json.dumps(dbt_vars(lake, warehouse_path)), dbt_target(lake)
    with tempfile.TemporaryDirectory(prefix="cdp-dbt-parse-") as tmp:
        restore_parse(vars_json, target, Path(tmp))
        done = subprocess.run(
            parse_command(Path(tmp), vars_json, target),
            cwd=dbt_project().project_dir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if done.returncode == 0:
            keep_parse(vars_json, target, Path(tmp))
        return done.returncode


def prepare_manifest(force: bool = False, while_parsing: Callable[[], None] | None = None) -> Path:
    """Run `dbt parse` so that `target/manifest.json` exists before the definitions are imported.

    dbt parses into a private target folder and the manifest is then renamed into place, so a process that
    imports the definitions meanwhile (dagster dev, another test run) never reads a half-written manifest.
    `while_parsing` is called (only when dbt does parse) while the dbt process runs: work that does not need the
    manifest, done on the other core instead of waiting (`python -m dagster_project run` imports the libraries its
    steps will use).
    """
    import tempfile

    manifest = dbt_project().manifest_path
    if force or not manifest.exists():
        manifest.parent.mkdir(parents=True, exist_ok=True)
        lake = Lake.from_env()
        vars_json, target = json.dumps(dbt_vars(lake)), dbt_target(lake)
        with tempfile.TemporaryDirectory(prefix=".parse-", dir=manifest.parent) as tmp:
            # The same vars and target as the builds on the configured data root, so that each build can reuse
            # this parse (dagster-dbt copies partial_parse.msgpack into the run's target): with other vars dbt
            # re-parses in full, as it would without the file.
            parse = subprocess.Popen(
                parse_command(Path(tmp), vars_json, target),
                cwd=dbt_project().project_dir,
                stdin=subprocess.DEVNULL,
            )
            try:
                if while_parsing is not None:
                    while_parsing()
                returncode = parse.wait()
            finally:
                if parse.poll() is None:  # interrupted or failed meanwhile: leave no dbt process behind
                    parse.kill()
                    parse.wait()
            if returncode != 0:
                raise subprocess.CalledProcessError(returncode, parse.args)
            keep_parse(vars_json, target, Path(tmp))
            partial = Path(tmp) / PARTIAL_PARSE_FILE
            if partial.exists():
                os.replace(partial, manifest.parent / PARTIAL_PARSE_FILE)
            os.replace(Path(tmp) / "manifest.json", manifest)
    return manifest


class PlatformDbtTranslator(DagsterDbtTranslator):
    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        fqn = dbt_resource_props.get("fqn", [])
        # fqn = [project, layer, dataset, model]
        if len(fqn) >= 4 and fqn[1] in LAYERS:
            return fqn[2]
        return super().get_group_name(dbt_resource_props)

    def get_tags(self, dbt_resource_props: Mapping[str, Any]) -> Mapping[str, str]:
        # Every dbt model is a mart in the platform's roles (staging, intermediate and marts alike); it belongs to
        # the dataset of its folder, except the platform's own models (footprint, model cards).
        group = self.get_group_name(dbt_resource_props)
        dataset = group if group and group != PLATFORM_GROUP else None
        return {**super().get_tags(dbt_resource_props), **role_tags(Role.MART, dataset)}

    def get_description(self, dbt_resource_props: Mapping[str, Any]) -> str:
        desc = dbt_resource_props.get("description") or super().get_description(dbt_resource_props)
        if dbt_resource_props.get("resource_type") == "model":
            desc += f"\n\n[dbt docs for this model](http://127.0.0.1:8080/#!/model/{dbt_resource_props['unique_id']})"
        return desc

    def get_automation_condition(
        self, dbt_resource_props: Mapping[str, Any]
    ) -> dg.AutomationCondition | None:
        # The warehouse follows its sources: rebuild a model when anything upstream of it changes (and retry a
        # model whose last build failed once its inputs are healthy again).
        from dagster_project.automation import EAGER

        return EAGER

    def get_metadata(self, dbt_resource_props: Mapping[str, Any]) -> Mapping[str, Any]:
        md = dict(super().get_metadata(dbt_resource_props))
        if dbt_resource_props.get("resource_type") == "model":
            md["dbt_docs"] = dg.MetadataValue.url(
                f"http://127.0.0.1:8080/#!/model/{dbt_resource_props['unique_id']}"
            )
        return md


translator = PlatformDbtTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))


CONTENT_VERSION_LOG = "content version: "


def content_version_events(invocation, context: dg.AssetExecutionContext):
    """The invocation's Dagster events, yielded while dbt runs (Dagster stores each one as dbt goes on to the next
    node), with `dagster/row_count` and a content-hash data version on each model's materialisation.

    dbt holds the warehouse's write lock until it exits, so the counts cannot be read from here while it runs:
    every model's post-hook (`dbt/macros/content_version.sql`) computes them in dbt's own transaction and logs
    them, and the line arrives before the model's result. A rebuild with the same content keeps its version, so
    the models that read the table do not retrain (see `retrain_condition` in dagster_project/automation.py)."""
    versions: dict[str, tuple[int, str]] = {}
    for message in invocation.stream_raw_events():
        info = message.raw_event["info"]
        unique_id = message.raw_event["data"].get("node_info", {}).get("unique_id")
        if info.get("name") == "JinjaLogInfo" and info.get("msg", "").startswith(CONTENT_VERSION_LOG):
            logged = json.loads(info["msg"][len(CONTENT_VERSION_LOG) :])
            versions[unique_id] = (int(logged["rows"]), logged["sha256"][:24])
            continue
        for event in message.to_default_asset_events(
            manifest=invocation.manifest,
            dagster_dbt_translator=invocation.dagster_dbt_translator,
            context=context,
            target_path=invocation.target_path,
            project=invocation.project,
        ):
            if isinstance(event, dg.Output) and unique_id in versions:
                count, version = versions.pop(unique_id)
                event = dg.Output(
                    value=event.value,
                    output_name=event.output_name,
                    metadata={**event.metadata, "dagster/row_count": count},
                    data_version=dg.DataVersion(version),
                    tags=event.tags,
                )
            yield event


def _parse_cache_file(vars_json: str, target: str) -> Path:
    key = hashlib.sha256(
        "\x00".join([vars_json, target, importlib.metadata.version("dbt-core")]).encode()
    ).hexdigest()[:20]
    return dbt_project().manifest_path.parent / PARSE_CACHE_DIR / f"{key}.msgpack"


def restore_parse(vars_json: str, target: str, target_path: Path) -> None:
    """Put the last parse made with these vars and target into `target_path`, where dbt looks for it. dbt checks
    the files' hashes itself and re-parses what changed, so a stale copy costs nothing but the copy."""
    cached = _parse_cache_file(vars_json, target)
    prepared = dbt_project().manifest_path.parent / PARTIAL_PARSE_FILE
    source = cached if cached.exists() else prepared if prepared.exists() else None
    if source is not None:
        target_path.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, target_path / PARTIAL_PARSE_FILE)


def keep_parse(vars_json: str, target: str, target_path: Path) -> None:
    """Keep the parse dbt just wrote in `target_path` for the next invocation with the same vars and target
    (atomic: concurrent dbt steps may read it). Only the newest few are kept."""
    written = target_path / PARTIAL_PARSE_FILE
    if not written.exists():
        return
    cached = _parse_cache_file(vars_json, target)
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_name(f".{cached.name}.{os.getpid()}")
    try:
        shutil.copy(written, tmp)
        os.replace(tmp, cached)
        kept = sorted(cached.parent.glob("*.msgpack"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in kept[PARSE_CACHE_KEEP:]:
            old.unlink(missing_ok=True)
    except OSError:  # an optimisation only: never fail a step because of it
        Path(tmp).unlink(missing_ok=True)


def build_dbt_assets() -> dg.AssetsDefinition:
    # Only the atomic parse: `DbtProject.prepare_if_dev()` would parse again, in place, under `dagster dev`, where
    # another process may be reading the manifest it rewrites.
    prepare_manifest()

    @dbt_assets(
        manifest=dbt_project().manifest_path,
        project=dbt_project(),
        dagster_dbt_translator=translator,
        name="warehouse_dbt_models",
        pool=DUCKDB_POOL,
    )
    def warehouse_dbt_models(
        context: dg.AssetExecutionContext, dbt: DbtCliResource, lake: Lake, warehouse: Warehouse
    ):
        """Builds (runs and tests) the selected dbt models in the DuckDB warehouse."""
        vars_json, target = json.dumps(dbt_vars(lake, warehouse.path)), dbt_target(lake)
        target_path = (
            Path(dbt.project_dir) / "target" / f"{context.op.name}-{context.run.run_id[:8]}-{os.getpid()}"
        )
        restore_parse(vars_json, target, target_path)
        invocation = dbt.cli(
            ["build", "--vars", vars_json, "--target", target, *NO_FILE_LOG],
            context=context,
            target_path=target_path,
        )
        try:
            yield from content_version_events(invocation, context)
        finally:
            keep_parse(vars_json, target, invocation.target_path)
            # dagster-dbt leaves a target folder per run (manifest, compiled SQL, logs: megabytes each); the
            # events have been yielded, so drop it rather than let dbt/target grow without bound.
            shutil.rmtree(invocation.target_path, ignore_errors=True)

    return warehouse_dbt_models


DOCS_FILES = ("index.html", "manifest.json", "catalog.json")
# `docs generate` compiles every node it selects before reading the catalog: for the ~610 data tests that was more
# than half of its time, and the site never shows a test's compiled SQL. Tests still appear in the manifest (on
# their models and columns, as before); the catalog (models and sources) is the same.
DOCS_SKIP_COMPILE = ("--exclude", "resource_type:test", "resource_type:unit_test")
DOCS_PREFIX = "dbt_docs"


def generate_docs(lake: Lake, warehouse_path: str, log=print) -> dict[str, int]:
    """Run `dbt docs generate` against the warehouse and publish the static site under `dbt_docs/` on the lake.
    Opens the DuckDB file for writing (dbt-duckdb does), so callers run it in the `duckdb` pool."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="cdp-dbt-docs-") as target:
        vars_json, dbt_target_name = json.dumps(dbt_vars(lake, warehouse_path)), dbt_target(lake)
        restore_parse(vars_json, dbt_target_name, Path(target))
        cmd = [
            dbt_executable(),
            "docs",
            "generate",
            *DOCS_SKIP_COMPILE,
            *project_args(target, vars_json, dbt_target_name),
        ]
        proc = subprocess.run(
            cmd,
            cwd=dbt_project().project_dir,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=900,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"dbt docs generate failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}")
        keep_parse(vars_json, dbt_target_name, Path(target))
        sizes = {}
        for name in DOCS_FILES:
            data = (Path(target) / name).read_bytes()
            lake.write_bytes(f"{DOCS_PREFIX}/{name}", data)
            sizes[name] = len(data)
        log(f"dbt docs published to {lake.url(DOCS_PREFIX)}")
        manifest = json.loads((Path(target) / "manifest.json").read_text())
    sizes["models"] = sum(1 for n in manifest["nodes"].values() if n["resource_type"] == "model")
    return sizes


def build_dbt_docs_asset(dbt_models: dg.AssetsDefinition) -> dg.AssetsDefinition:
    from dagster_project.automation import EAGER

    @dg.asset(
        name="platform_dbt_docs",
        group_name="platform",
        deps=list(dbt_models.keys),
        pool=DUCKDB_POOL,
        kinds={"dbt", "html"},
        tags=role_tags(Role.DOCS),
        automation_condition=EAGER,
    )
    def platform_dbt_docs(context: dg.AssetExecutionContext, lake: Lake, warehouse: Warehouse):
        """The dbt docs site (index.html, manifest.json, catalog.json) of the warehouse, published under
        `dbt_docs/` on the data root. Browse it with `make docs` (http://127.0.0.1:8080)."""
        sizes = generate_docs(lake, warehouse.path, log=context.log.info)
        context.add_output_metadata(
            {
                "models_documented": sizes["models"],
                "site": dg.MetadataValue.path(lake.url(DOCS_PREFIX, "index.html")),
                "serve_with": "make docs  (then open http://127.0.0.1:8080)",
                "catalog_bytes": sizes["catalog.json"],
            }
        )

    return platform_dbt_docs


class PlatformDbtCliResource(DbtCliResource):
    """dagster-dbt's resource without two start-up costs the platform has no use for, paid by every process that
    runs a dbt step (seconds of CPU each): a `dbt --version` child process, and an in-process dbt adapter (which
    imports dbt-core into the step's process) that dagster-dbt uses only for `fetch_row_counts` and
    `fetch_column_metadata`. The platform calls neither: each model's post-hook logs its counts (`content_version_events`).
    Everything dbt runs, and every event, is the same."""

    @cached_property
    def _cli_version(self) -> version.Version:
        # The dbt beside this interpreter is this virtualenv's dbt-core: its version without starting it.
        if Path(self.dbt_executable).parent == Path(sys.executable).parent:
            return version.parse(importlib.metadata.version("dbt-core"))
        return super()._cli_version

    def _initialize_dbt_core_adapter(self, args):  # dagster-dbt's private hook, pinned in the lock
        return None  # dagster-dbt then skips the row-count and column-metadata post-processing, as before


def dbt_resource() -> DbtCliResource:
    return PlatformDbtCliResource(project_dir=dbt_project(), dbt_executable=dbt_executable())
