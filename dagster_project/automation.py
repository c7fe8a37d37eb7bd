"""Keeping the platform fresh: a source sensor per dataset, declarative automation downstream, and schedules.

- `<dataset>_source_sensor` watches the dataset's configured source (folder or s3://; HTTP sources through the
  dataset's `list_remote`) with a cursor of file fingerprints (size+mtime locally, ETag on S3). New or changed files
  produce run requests for exactly the affected partitions (new dynamic partitions are added first), keyed so that
  a file version is never ingested twice. Unpartitioned datasets get one run of their raw asset.
- Downstream of the raw files, assets follow by declarative automation: `AutomationCondition.eager()` on typed
  tables, dbt models, models and evaluations (set by `apply_automation`), evaluated by the
  `platform_automation_sensor`, which runs by default.
- `nightly_revalidation` (02:00 UTC) re-ingests and re-validates every source and rebuilds the dbt warehouse;
  partitioned datasets get `nightly_<dataset>_revalidation` over all their partitions. `weekly_retrain`
  (Monday 04:00 UTC) retrains and re-evaluates every model.
"""

import hashlib
import json

import dagster as dg

from dagster_project import settings
from dagster_project.datasets import Dataset
from dagster_project.raw import is_http
from dagster_project.storage import filesystem_for

SENSOR_INTERVAL_S = 60
DBT_ASSETS_NAME = "warehouse_dbt_models"


def raw_asset_key(ds: Dataset) -> dg.AssetKey:
    keys = [k for a in ds.defs.assets or [] for k in getattr(a, "keys", [])]
    raw = [k for k in keys if k.to_user_string().startswith(f"{ds.name}_raw")]
    if not raw:
        raise ValueError(f"dataset {ds.name} has no raw asset (a key starting with {ds.name}_raw)")
    return sorted(raw, key=lambda k: k.to_user_string())[0]


def partitioned_keys(ds: Dataset) -> list[dg.AssetKey]:
    if ds.partitions is None:
        return []
    out = []
    for a in ds.defs.assets or []:
        if getattr(a, "partitions_def", None) == ds.partitions:
            out.extend(a.keys)
    return sorted(out, key=lambda k: k.to_user_string())


def source_fingerprints(location: str, ds: Dataset | None = None) -> dict[str, str]:
    """{relative path: fingerprint} of every file at a source location."""
    if is_http(location):
        if ds is None or ds.list_remote is None:
            raise NotImplementedError(f"{location}: no listing API known for this HTTP source")
        return ds.list_remote(location)
    fs, base = filesystem_for(location)
    base = base.rstrip("/")
    out = {}
    for path, info in fs.find(base, detail=True).items():
        rel = path[len(base) :].lstrip("/")
        if any(part.startswith(".") for part in rel.split("/")):
            continue
        tag = info.get("ETag") or info.get("etag") or info.get("mtime") or info.get("LastModified") or ""
        out[rel] = f"{info.get('size')}:{tag}"
    return out


def affected_partitions(ds: Dataset, location: str, changed: list[str], known: set[str]) -> list[str]:
    if ds.partitions_for_files is not None:
        return sorted(set(ds.partitions_for_files(location, changed)))
    discovered = ds.discover_partitions(location) if ds.discover_partitions else []
    new = [p for p in discovered if p not in known]
    changed_existing = [c for c in changed if c]  # any change to a file we had seen: be safe, redo all
    return sorted(set(discovered)) if (changed_existing and not new) else sorted(new)


def build_source_sensor(ds: Dataset) -> dg.SensorDefinition:
    raw_key = raw_asset_key(ds)
    part_keys = partitioned_keys(ds)

    @dg.sensor(
        name=f"{ds.name}_source_sensor",
        description=f"Watches the {ds.name} source location (CDP_{ds.name.upper()}_SOURCE) for new or changed files "
        "and requests ingestion of exactly the affected partitions.",
        minimum_interval_seconds=SENSOR_INTERVAL_S,
        asset_selection=[raw_key, *part_keys],
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    def source_sensor(context: dg.SensorEvaluationContext):
        location = settings.source_location(ds.name)
        try:
            current = source_fingerprints(location, ds)
        except NotImplementedError as exc:
            return dg.SkipReason(str(exc))
        except FileNotFoundError:
            return dg.SkipReason(f"{location} does not exist")
        if not context.cursor and context.instance.get_latest_materialization_event(raw_key) is not None:
            # First tick on an instance that already ingested this source (e.g. `make run` before `make ui`):
            # remember what is there instead of re-ingesting everything.
            context.update_cursor(json.dumps(current, sort_keys=True))
            return dg.SkipReason(f"cursor initialised with {len(current)} files already ingested")
        seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
        changed = sorted(rel for rel, fp in current.items() if seen.get(rel) != fp)
        if not changed:
            return dg.SkipReason(f"no new or changed files at {location}")
        digest = hashlib.sha1(
            json.dumps({c: current[c] for c in changed}, sort_keys=True).encode()
        ).hexdigest()[:16]
        cursor = json.dumps(current, sort_keys=True)
        if ds.partitions is None:
            return dg.SensorResult(
                run_requests=[dg.RunRequest(run_key=f"{ds.name}:{digest}", asset_selection=[raw_key])],
                cursor=cursor,
            )
        known = set(context.instance.get_dynamic_partitions(ds.partitions.name))
        parts = affected_partitions(ds, location, [c for c in changed if c in seen] or changed, known)
        new = [p for p in parts if p not in known]
        context.log.info(f"{len(changed)} changed files at {location} -> partitions {parts} ({len(new)} new)")
        return dg.SensorResult(
            run_requests=[
                dg.RunRequest(run_key=f"{p}:{digest}", partition_key=p, asset_selection=[raw_key, *part_keys])
                for p in parts
            ],
            dynamic_partitions_requests=[ds.partitions.build_add_request(new)] if new else [],
            cursor=cursor,
        )

    return source_sensor


def _group_keys(graph, group: str) -> list[dg.AssetKey]:
    return [
        k
        for k in graph.get_all_asset_keys()
        if graph.get(k).group_name == group and graph.get(k).is_materializable
    ]


def descendants(graph, roots: set[dg.AssetKey]) -> set[dg.AssetKey]:
    """`roots` and everything downstream of them."""
    out, frontier = set(roots), list(roots)
    while frontier:
        for child in graph.get(frontier.pop()).child_keys:
            if child not in out:
                out.add(child)
                frontier.append(child)
    return out


def build_jobs_and_schedules(datasets: list[Dataset], graph, models: set[dg.AssetKey]) -> tuple[list, list]:
    """Per-dataset jobs, the nightly re-validation and the weekly retrain. `models` are the trained-model assets;
    retraining covers them and everything downstream (evaluations, model cards, footprint marts)."""
    jobs, schedules = [], []
    retrain = sorted(descendants(graph, models), key=lambda k: k.to_user_string())
    unpartitioned_validation: list[dg.AssetKey] = []
    for ds in datasets:
        keys = _group_keys(graph, ds.name)
        parts = set(partitioned_keys(ds))
        unpartitioned_validation += [k for k in keys if k not in parts and k not in set(retrain)]
        # One job per dataset that a user (or the UI test) can launch: raw → evaluation.
        if not parts:
            jobs.append(
                dg.define_asset_job(
                    f"{ds.name}_pipeline",
                    selection=dg.AssetSelection.assets(*keys),
                    description=f"Everything of {ds.name}: raw files → checks → dbt → model → evaluation.",
                )
            )
        else:
            ingest = dg.define_asset_job(
                f"{ds.name}_ingest",
                selection=dg.AssetSelection.assets(
                    raw_asset_key(ds), *sorted(parts, key=lambda k: k.to_user_string())
                ),
                partitions_def=ds.partitions,
                description=f"{ds.name}: raw files and the per-partition tables (one run per partition).",
            )
            jobs.append(ingest)
            schedules.append(_all_partitions_schedule(ds, ingest))
    nightly = dg.define_asset_job(
        "nightly_revalidation",
        selection=dg.AssetSelection.assets(*unpartitioned_validation),
        description="Re-ingests every source (unchanged files are skipped), re-runs every validation suite and "
        "rebuilds the dbt warehouse (models and evaluations are left to the weekly retrain).",
    )
    weekly = dg.define_asset_job(
        "weekly_retrain",
        selection=dg.AssetSelection.assets(*retrain),
        description="Retrains and re-evaluates every model on the current warehouse, then refreshes the model "
        "cards and footprint marts.",
    )
    jobs += [nightly, weekly]
    schedules += [
        dg.ScheduleDefinition(
            name="nightly_revalidation_schedule",
            job=nightly,
            cron_schedule="0 2 * * *",
            execution_timezone="UTC",
            default_status=dg.DefaultScheduleStatus.RUNNING,
            description="Every night at 02:00 UTC: re-validate all sources and rebuild dbt.",
        ),
        dg.ScheduleDefinition(
            name="weekly_retrain_schedule",
            job=weekly,
            cron_schedule="0 4 * * 1",
            execution_timezone="UTC",
            default_status=dg.DefaultScheduleStatus.RUNNING,
            description="Every Monday at 04:00 UTC: retrain and re-evaluate every model.",
        ),
    ]
    return jobs, schedules


def _all_partitions_schedule(ds: Dataset, job) -> dg.ScheduleDefinition:
    @dg.schedule(
        name=f"nightly_{ds.name}_revalidation",
        job=job,
        cron_schedule="30 2 * * *",
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=f"Every night at 02:30 UTC: re-ingest and re-validate every {ds.name} partition.",
    )
    def nightly_partitions(context: dg.ScheduleEvaluationContext):
        keys = context.instance.get_dynamic_partitions(ds.partitions.name)
        day = context.scheduled_execution_time.strftime("%Y-%m-%d")
        return [dg.RunRequest(run_key=f"{k}:{day}", partition_key=k) for k in keys]

    return nightly_partitions


def automation_sensor() -> dg.AutomationConditionSensorDefinition:
    return dg.AutomationConditionSensorDefinition(
        "platform_automation_sensor",
        target=dg.AssetSelection.all(),
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Evaluates the assets' automation conditions: typed tables, dbt models, models and "
        "evaluations follow when their upstream data changes.",
    )


EAGER = dg.AutomationCondition.eager()


def apply_automation(assets_defs: list, partitioned: set[dg.AssetKey], raw: set[dg.AssetKey]) -> list:
    """Eager automation on everything downstream of the raw files, except partitioned assets (those are driven by
    the source sensors, per partition, so a raw refresh does not re-run every partition)."""

    def eager_where_unset(spec: dg.AssetSpec) -> dg.AssetSpec:
        if spec.key in partitioned or spec.key in raw or spec.automation_condition is not None:
            return spec
        return spec.replace_attributes(automation_condition=EAGER)

    out = []
    for a in assets_defs:
        if isinstance(a, dg.AssetsDefinition) and a.node_def.name != DBT_ASSETS_NAME:
            a = a.map_asset_specs(eager_where_unset)
        out.append(a)
    return out
