"""Materialise everything (or some datasets) in dependency order, handling partitioned assets.

A run cannot mix partitions definitions, so assets are materialised in three stages: (A) unpartitioned assets
upstream of any partitioned one (raw files), (B) each partitioned asset set, one run per partition key (keys are
discovered from the source and added to the instance), (C) everything downstream (dbt, models, evaluations).
Every run is recorded in the Dagster instance, so the UI shows them afterwards.
"""

import logging
from collections import defaultdict
from dataclasses import dataclass, field

import dagster as dg

from dagster_project import cluster, settings

log = logging.getLogger(__name__)


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


def plan_stages(defs: dg.Definitions, groups: set[str] | None) -> tuple[Plan, dict]:
    graph = defs.resolve_asset_graph()
    keys = [
        k
        for k in graph.get_all_asset_keys()
        if graph.get(k).is_materializable and (groups is None or graph.get(k).group_name in groups)
    ]
    keyset = set(keys)
    parts = {k: graph.get(k).partitions_def for k in keys if graph.get(k).partitions_def is not None}
    downstream: set[dg.AssetKey] = set()
    frontier = list(parts)
    while frontier:
        for child in graph.get(frontier.pop()).child_keys:
            if child in keyset and child not in downstream:
                downstream.add(child)
                frontier.append(child)
    plan = Plan()
    pdefs: dict[str, dg.PartitionsDefinition] = {}
    topo = {k: i for i, k in enumerate(graph.toposorted_asset_keys)}
    for k in sorted(keys, key=lambda x: topo.get(x, 0)):
        if k in parts:
            name = getattr(parts[k], "name", None) or str(parts[k])
            pdefs[name] = parts[k]
            plan.partitioned.setdefault(name, []).append(k)
        elif k in downstream:
            plan.after.append(k)
        else:
            plan.before.append(k)
    return plan, pdefs


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
) -> RunReport:
    """Materialise the given datasets (default: all). `resources` overrides the configured ones (tests use it
    to point at a temporary lake and warehouse)."""
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
            print(f"[{ds.name}] {len(found)} partitions ({len(new)} new)", flush=True)

    plan, pdefs = plan_stages(defs, groups)
    graph = defs.resolve_asset_graph()
    all_assets = list(defs.assets or [])
    if resources and cluster.is_cluster():
        raise ValueError("CDP_PROFILE=cluster: resources come from each worker's environment (CDP_DATA_ROOT)")
    resources = {**dict(defs.resources or {}), **(resources or {})}
    summary: dict[str, AssetSummary] = {}
    failures: list[str] = []
    results: list = []

    def execute(keys: list[dg.AssetKey], label: str, partition_key: str | None = None):
        print(f"==> materialising {label} ({len(keys)} assets)", flush=True)
        tags = {"cdp/launched_by": "python -m dagster_project run"}
        if cluster.is_cluster():  # steps run on the Celery workers, with resources from their environment
            return cluster.materialize(keys, instance, partition_key=partition_key, tags=tags)
        return dg.materialize(
            all_assets,
            selection=dg.AssetSelection.assets(*keys),
            instance=instance,
            resources=resources,
            partition_key=partition_key,
            raise_on_error=False,
            tags=tags,
        )

    def run(keys: list[dg.AssetKey], label: str, partition_key: str | None = None, result=None) -> None:
        if not keys:
            return
        result = result if result is not None else execute(keys, label, partition_key)
        results.append(result)
        for ev in result.get_asset_materialization_events():
            key = ev.asset_key.to_user_string()
            s = summary.setdefault(key, AssetSummary(key, graph.get(ev.asset_key).group_name or ""))
            md = ev.materialization.metadata
            if "dagster/row_count" in md:
                s.rows = (s.rows or 0) + int(md["dagster/row_count"].value)
            if partition_key:
                s.partitions += 1
            if "headline_metric" in md:
                name = md.get("headline_metric_name")
                s.headline = f"{name.value if name else 'metric'}={md['headline_metric'].value:.4g}"
        for ev in result.get_asset_check_evaluations():
            key = ev.asset_key.to_user_string()
            s = summary.setdefault(key, AssetSummary(key, graph.get(ev.asset_key).group_name or ""))
            if ev.passed:
                s.checks_passed += 1
            elif ev.severity == dg.AssetCheckSeverity.WARN:
                s.checks_failed += 1  # a non-blocking measurement: reported, not a run failure
                print(f"   warning: check {ev.check_name} on {key} did not pass (WARN)", flush=True)
            else:
                s.checks_failed += 1
                failures.append(
                    f"check {ev.check_name} on {key} failed"
                    + (f" [{partition_key}]" if partition_key else "")
                )
        if not result.success:
            failed_steps = [e.step_key for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
            failures.append(f"{label}: run {result.run_id} failed at steps {failed_steps}")
            for e in result.all_events:
                if e.event_type_value == "STEP_FAILURE" and e.step_failure_data and e.step_failure_data.error:
                    print(f"   {e.step_key}: {e.step_failure_data.error.message.strip()[:500]}", flush=True)

    run(plan.before, "sources" if plan.partitioned else "all assets")
    for name, keys in plan.partitioned.items():
        pdef = pdefs[name]
        pkeys = pdef.get_partition_keys(dynamic_partitions_store=instance)
        # One run per partition; under the cluster profile they run concurrently, fanning out over the workers.
        executed = cluster.map_runs(
            lambda pk, k=keys, n=name: execute(k, f"{n} partition {pk}", pk), pkeys, instance
        )
        for pk, result in zip(pkeys, executed, strict=True):
            run(keys, f"{name} partition {pk}", partition_key=pk, result=result)
    run(plan.after, "transforms, models and evaluations")
    order = {
        k.to_user_string(): i
        for i, k in enumerate(plan.before + sum(plan.partitioned.values(), []) + plan.after)
    }
    rows = sorted(summary.values(), key=lambda s: (s.group, order.get(s.key, 10**6)))
    return RunReport(rows, failures, results)


def print_summary(rows: list[AssetSummary], failures: list[str], seconds: float) -> None:
    by_group: dict[str, list[AssetSummary]] = defaultdict(list)
    for r in rows:
        by_group[r.group].append(r)
    header = f"{'asset':45} {'rows':>10} {'parts':>5} {'checks ok/failed':>17}  headline metric"
    print("\n" + header + "\n" + "-" * len(header))
    for group in sorted(by_group):
        for r in by_group[group]:
            rows_txt = "" if r.rows is None else str(r.rows)
            parts = str(r.partitions) if r.partitions else ""
            checks = f"{r.checks_passed}/{r.checks_failed}" if (r.checks_passed or r.checks_failed) else ""
            print(f"{r.key:45} {rows_txt:>10} {parts:>5} {checks:>17}  {r.headline}")
    print("-" * len(header))
    print(
        f"{len(rows)} assets materialised in {seconds:.0f} s; data root {settings.data_root()}; "
        f"warehouse {settings.warehouse_path()}"
    )
    if failures:
        print("FAILURES:")
        for f in failures:
            print(f"  - {f}")
