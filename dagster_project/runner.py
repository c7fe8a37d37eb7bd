"""Materialise everything (or some datasets) in dependency order, handling partitioned assets.

A run cannot mix partitions definitions, so assets are materialised in three stages: (A) unpartitioned assets
upstream of any partitioned one (raw files), (B) each partitioned asset set, one run per partition key (keys are
discovered from the source and added to the instance), (C) every other asset (unpartitioned datasets, dbt,
models, evaluations, cards). Stage C is two runs: (C1) the Python tables that feed the warehouse, then (C2) the
warehouse, models, evaluations and cards. Within one run Dagster cuts the dbt multi-asset into one step per
"number of other assets on the longest path from a root" (its cycle resolution), so with the tables in the same
run the warehouse was built by five dbt invocations; after C1 every first-level dbt model is a root and the
warehouse takes two (data marts, then the platform's marts over the evaluations), each one a dbt process that
parses the project and runs its tests.
Every run is recorded in the Dagster instance, so the UI shows them afterwards.
"""

import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import dagster as dg

from dagster_project import cluster, recovery, settings
from dagster_project.dbt import parse_in_worker
from dagster_project.dbt_worker import running_worker
from dagster_project.evaluation import read_evaluation
from dagster_project.event_log import faster_event_log
from dagster_project.storage import Lake
from dagster_project.warehouse import Warehouse

log = logging.getLogger(__name__)
# The job name `dg.materialize` gives its runs (the UI lists the runner's runs under it, as before).
EPHEMERAL_JOB_NAME = "__ephemeral_asset_job__"


@dataclass
class AssetSummary:
    key: str
    group: str
    rows: int | None = None
    partitions: int = 0
    checks_passed: int = 0
    checks_failed: int = 0
    headline: str = ""


@dataclass
class Plan:
    before: list[dg.AssetKey] = field(default_factory=list)
    partitioned: dict[str, list[dg.AssetKey]] = field(default_factory=dict)
    after: list[dg.AssetKey] = field(default_factory=list)
    # `after` cut into runs: the tables that feed the subsettable multi-assets (dbt), then the rest
    after_stages: list[list[dg.AssetKey]] = field(default_factory=list)


def plan_stages(defs: dg.Definitions, groups: set[str] | None) -> tuple[Plan, dict]:
    graph = defs.resolve_asset_graph()
    keys = [
        k
        for k in graph.get_all_asset_keys()
        if graph.get(k).is_materializable and (groups is None or graph.get(k).group_name in groups)
    ]
    keyset = set(keys)
    parts = {k: graph.get(k).partitions_def for k in keys if graph.get(k).partitions_def is not None}
    # Stage A holds only what the partitioned assets need (their unpartitioned ancestors, e.g. raw files); every
    # other unpartitioned asset waits for stage C, so that the whole warehouse is built by ONE dbt invocation
    # (each one starts a dbt process and parses the project) and models of all datasets share that run.
    upstream: set[dg.AssetKey] = set()
    frontier = list(parts)
    while frontier:
        for parent in graph.get(frontier.pop()).parent_keys:
            if parent in keyset and parent not in upstream and parent not in parts:
                upstream.add(parent)
                frontier.append(parent)
    plan = Plan()
    pdefs: dict[str, dg.PartitionsDefinition] = {}
    topo = {k: i for i, k in enumerate(graph.toposorted_asset_keys)}
    for k in sorted(keys, key=lambda x: topo.get(x, 0)):
        if k in parts:
            name = getattr(parts[k], "name", None) or str(parts[k])
            pdefs[name] = parts[k]
            plan.partitioned.setdefault(name, []).append(k)
        elif k in upstream:
            plan.before.append(k)
        else:
            plan.after.append(k)
    plan.after_stages = _feeders_first(graph, plan.after)
    return plan, pdefs


def _feeders_first(graph, keys: list[dg.AssetKey]) -> list[list[dg.AssetKey]]:
    """`keys` (in topological order) as [assets upstream of no subsettable multi-asset key, the rest]; one stage
    when either part is empty. A subsettable multi-asset is what Dagster splits per run (the dbt models)."""

    def splittable(k: dg.AssetKey) -> bool:
        assets_def = graph.assets_def_for_key(k)
        return assets_def.can_subset and len(assets_def.keys) > 1

    selected = set(keys)
    tainted: set[dg.AssetKey] = set()
    for k in keys:  # topological order: parents are decided first
        if splittable(k) or any(p in tainted for p in graph.get(k).parent_keys if p in selected):
            tainted.add(k)
    first = [k for k in keys if k not in tainted]
    rest = [k for k in keys if k in tainted]
    return [part for part in (first, rest) if part]


@dataclass
class RunReport:
    summary: list[AssetSummary]
    failures: list[str]
    results: list = field(default_factory=list)

    @property
    def success(self) -> bool:
        return not self.failures


def materialize_everything(
    instance: dg.DagsterInstance,
    datasets: list[str] | None = None,
    defs: dg.Definitions | None = None,
    resources: dict | None = None,
    console=None,
) -> RunReport:
    """Materialise the given datasets (default: all). `resources` overrides the configured ones (tests use it
    to point at a temporary lake and warehouse). `console` (a `dagster_project.console.Console`) receives the
    progress lines, the runs' warnings and errors; without one they are printed."""
    with faster_event_log(instance):
        return _materialize_everything(instance, datasets, defs, resources, console)


def _materialize_everything(
    instance: dg.DagsterInstance,
    datasets: list[str] | None,
    defs: dg.Definitions | None,
    resources: dict | None,
    console,
) -> RunReport:
    say: Callable[[str], None] = console.say if console is not None else (lambda m: print(m, flush=True))
    if defs is None:
        from dagster_project.definitions import defs as loaded_defs

        defs = loaded_defs
    from dagster_project.definitions import DATASETS

    groups = set(datasets) if datasets else None
    for ds in DATASETS:
        if ds.partitions is not None and ds.discover_partitions and (groups is None or ds.name in groups):
            found = ds.discover_partitions(settings.source_location(ds.name))
            new = [p for p in found if not instance.has_dynamic_partition(ds.partitions.name, p)]
            if new:
                instance.add_dynamic_partitions(ds.partitions.name, new)
            say(f"[{ds.name}] {len(found)} partitions ({len(new)} new)")

    plan, pdefs = plan_stages(defs, groups)
    graph = defs.resolve_asset_graph()
    if resources and cluster.is_cluster():
        raise ValueError("CDP_PROFILE=cluster: resources come from each worker's environment (CDP_DATA_ROOT)")
    resources = {**dict(defs.resources or {}), **(resources or {})}
    # Crash safety: runs whose process is gone release their pool slots before this run needs them. (It also
    # marks this process's children, the dbt worker among them, for the next run's `stop_leftovers`.)
    recovery.before_run(instance, resources.get("lake"), say=say)
    lake, warehouse = resources.get("lake"), resources.get("warehouse")
    worker: contextlib.AbstractContextManager = contextlib.nullcontext()
    if (
        not cluster.is_cluster()  # the steps, dbt's among them, run on the Celery workers
        and isinstance(lake, Lake)
        and isinstance(warehouse, Warehouse)
        and any("dbt" in (graph.get(k).kinds or ()) for k in plan.after)
    ):
        # One dbt process for the run's dbt commands, its parse made while the stages before them run.
        worker = running_worker(warm=lambda: parse_in_worker(lake, warehouse.path))
    with worker:
        return _run_stages(instance, defs, plan, pdefs, graph, resources, say, console)


def _run_stages(instance, defs, plan: Plan, pdefs: dict, graph, resources: dict, say, console) -> RunReport:
    all_assets = list(defs.assets or [])
    summary: dict[str, AssetSummary] = {}
    failures: list[str] = []
    results: list = []

    def execute(keys: list[dg.AssetKey], label: str, partition_key: str | None = None):
        recovery.raise_if_interrupted()  # after Ctrl-C / SIGTERM no further run starts
        if partition_key is None:
            say(f"==> materialising {label} ({len(keys)} assets)")
        tags = {"cdp/launched_by": "python -m dagster_project run", **recovery.process_tags()}
        if cluster.is_cluster():  # steps run on the Celery workers, with resources from their environment
            return cluster.materialize(keys, instance, partition_key=partition_key, tags=tags)
        return job_for(keys).execute_in_process(
            instance=instance, partition_key=partition_key, raise_on_error=False, tags=tags
        )

    jobs: dict[tuple[dg.AssetKey, ...], dg.JobDefinition] = {}

    def job_for(keys: list[dg.AssetKey]) -> dg.JobDefinition:
        """The job `dg.materialize` would build, built once per selection: the runs of one partitioned stage (one
        per partition key) share it instead of each resolving the whole code location's assets again."""
        if tuple(keys) not in jobs:
            job_defs = dg.Definitions(
                jobs=[dg.define_asset_job(EPHEMERAL_JOB_NAME, selection=dg.AssetSelection.assets(*keys))],
                assets=all_assets,
                resources=resources,
            )
            jobs[tuple(keys)] = job_defs.resolve_job_def(EPHEMERAL_JOB_NAME)
        return jobs[tuple(keys)]

    def run(keys: list[dg.AssetKey], label: str, partition_key: str | None = None, result=None) -> None:
        if not keys:
            return
        result = result if result is not None else execute(keys, label, partition_key)
        results.append(result)
        for line in run_warnings(instance, result.run_id):
            say(f"   {line}")
        for ev in result.get_asset_materialization_events():
            key = ev.asset_key.to_user_string()
            s = summary.setdefault(key, AssetSummary(key, graph.get(ev.asset_key).group_name or ""))
            md = ev.materialization.metadata
            if "dagster/row_count" in md:
                s.rows = (s.rows or 0) + int(md["dagster/row_count"].value)
            if partition_key:
                s.partitions += 1
            evaluation = read_evaluation(md)  # the typed result of an evaluation asset
            if evaluation is not None:
                s.headline = f"{evaluation.headline}={evaluation.headline_value:.4g}"
        for ev in result.get_asset_check_evaluations():
            key = ev.asset_key.to_user_string()
            s = summary.setdefault(key, AssetSummary(key, graph.get(ev.asset_key).group_name or ""))
            if ev.passed:
                s.checks_passed += 1
            elif ev.severity == dg.AssetCheckSeverity.WARN:
                s.checks_failed += 1  # a non-blocking measurement: reported, not a run failure
                say(f"   WARNING check {ev.check_name} on {key} did not pass (non-blocking measurement)")
            else:
                s.checks_failed += 1
                failures.append(
                    f"check {ev.check_name} on {key} failed"
                    + (f" [{partition_key}]" if partition_key else "")
                )
        if not result.success:
            failed_steps = [e.step_key for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
            failures.append(f"{label}: run {result.run_id} failed at steps {failed_steps}")

    run(plan.before, "sources of the partitioned datasets")
    for name, keys in plan.partitioned.items():
        pdef = pdefs[name]
        pkeys = pdef.get_partition_keys(dynamic_partitions_store=instance)
        say(f"==> materialising {name}: {len(pkeys)} partitions ({len(keys)} assets each)")
        # One run per partition; under the cluster profile they run concurrently, fanning out over the workers.
        executed = cluster.map_runs(
            lambda pk, k=keys, n=name: execute(k, f"{n} partition {pk}", pk), pkeys, instance
        )
        for i, (pk, result) in enumerate(zip(pkeys, executed, strict=True), start=1):
            if console is not None:
                console.progress(i, len(pkeys), f"{pk}: {'ok' if result.success else 'FAILED'}")
            run(keys, f"{name} partition {pk}", partition_key=pk, result=result)
    # none when the selection ends at the partitioned stage (e.g. a test's `upto`)
    labels = {1: ["all assets"], 2: ["tables", "warehouse, models and evaluations"]}.get(
        len(plan.after_stages), []
    )
    for keys, label in zip(plan.after_stages, labels, strict=True):
        run(keys, label)
    order = {
        k.to_user_string(): i
        for i, k in enumerate(plan.before + sum(plan.partitioned.values(), []) + plan.after)
    }
    rows = sorted(summary.values(), key=lambda s: (s.group, order.get(s.key, 10**6)))
    return RunReport(rows, failures, results)


WARNING_LINES_PER_RUN = 20


def run_warnings(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    """The run's log lines at WARNING and above (user warnings, step failures with their error), one line
    each, de-duplicated, so the terminal shows them while the full event stream stays in the log file."""
    seen: set[str] = set()
    lines: list[str] = []
    for entry in instance.all_logs(run_id):
        if entry.level < logging.WARNING:
            continue
        text = entry.user_message.strip()
        event = entry.dagster_event
        if event is not None and event.is_step_failure and event.step_failure_data.error is not None:
            error = event.step_failure_data.error
            while error.cause is not None:  # Dagster wraps the user's exception: show the original
                error = error.cause
            text = error.message.strip()
        text = " ".join(text.split())[:400]
        line = f"{'ERROR' if entry.level >= logging.ERROR else 'WARNING'} {entry.step_key or 'run'}: {text}"
        if line not in seen:
            seen.add(line)
            lines.append(line)
    if len(lines) > WARNING_LINES_PER_RUN:
        lines = [*lines[:WARNING_LINES_PER_RUN], f"... {len(lines) - WARNING_LINES_PER_RUN} more in the log"]
    return lines


def print_summary(
    rows: list[AssetSummary],
    failures: list[str],
    seconds: float,
    out: Callable[[str], None] = print,
    detailed: bool = True,
) -> None:
    """The summary: with `detailed`, one line per asset; otherwise one line per dataset (assets, rows,
    partitions, checks) followed by its headline metrics, which fits on a screen."""
    by_group: dict[str, list[AssetSummary]] = defaultdict(list)
    for r in rows:
        by_group[r.group].append(r)
    if detailed:
        header = f"{'asset':45} {'rows':>10} {'parts':>5} {'checks ok/failed':>17}  headline metric"
        out("\n" + header + "\n" + "-" * len(header))
        for group in sorted(by_group):
            for r in by_group[group]:
                rows_txt = "" if r.rows is None else str(r.rows)
                parts = str(r.partitions) if r.partitions else ""
                checks = (
                    f"{r.checks_passed}/{r.checks_failed}" if (r.checks_passed or r.checks_failed) else ""
                )
                out(f"{r.key:45} {rows_txt:>10} {parts:>5} {checks:>17}  {r.headline}")
    else:
        header = f"{'dataset / group':22} {'assets':>6} {'rows':>10} {'parts':>5} {'checks ok/failed':>17}"
        out("\n" + header + "\n" + "-" * len(header))
        for group in sorted(by_group):
            members = by_group[group]
            n_rows = sum(r.rows or 0 for r in members)
            parts = max((r.partitions for r in members), default=0)
            ok = sum(r.checks_passed for r in members)
            bad = sum(r.checks_failed for r in members)
            out(f"{group:22} {len(members):>6} {n_rows:>10} {parts or '':>5} {f'{ok}/{bad}':>17}")
            for r in members:
                if r.headline:
                    out(f"{'':4}{r.key}: {r.headline}")
    out("-" * len(header))
    out(
        f"{len(rows)} assets materialised in {seconds:.0f} s; data root {settings.data_root()}; "
        f"warehouse {settings.warehouse_path()}"
    )
    if failures:
        out("FAILURES:")
        for f in failures:
            out(f"  - {f}")
