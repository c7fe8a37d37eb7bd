"""Keeping the platform fresh: a source sensor per dataset, declarative automation downstream, and schedules.

- `<dataset>_source_sensor` watches the dataset's configured source (folder or s3://; HTTP sources through the
  dataset's `list_remote`) with a cursor of file fingerprints (size+mtime locally, ETag on S3). New or changed files
  produce run requests for exactly the affected partitions (new dynamic partitions are added first), keyed so that
  a file version is never ingested twice. Unpartitioned datasets get one run of their raw asset.
- Downstream of the raw files, assets follow by declarative automation: `AutomationCondition.eager()` on typed
  tables, dbt models, models and evaluations (set by `apply_automation`), plus building what is missing while its
  inputs are present and retrying failed work, evaluated by the `platform_automation_sensor`, which runs by
  default. From a fresh instance the sensors alone reach the state of `make run` (tests/platform/test_ui.py).
- `nightly_revalidation` (02:00 UTC) re-ingests and re-validates every source and rebuilds the dbt warehouse;
  partitioned datasets get `nightly_<dataset>_revalidation` over all their partitions. `weekly_retrain`
  (Monday 04:00 UTC) retrains and re-evaluates every model.
"""

import hashlib
import json
import time
from collections.abc import Iterable, Mapping
from typing import TypeVar

import dagster as dg

from dagster_project import settings
from dagster_project.datasets import Dataset
from dagster_project.raw import is_http
from dagster_project.roles import Role, keys_with_role, role_tags
from dagster_project.storage import filesystem_for

DBT_ASSETS_NAME = "warehouse_dbt_models"


def raw_asset_key(ds: Dataset) -> dg.AssetKey:
    """The dataset's raw-files asset: the one tagged `role_tags(Role.RAW, <dataset>)` (`ingest.raw_files_asset`)."""
    specs = [s for a in ds.defs.assets or [] for s in getattr(a, "specs", [])]
    raw = keys_with_role(specs, Role.RAW, ds.name)
    if not raw:
        raise ValueError(f"dataset {ds.name} has no raw asset (none tagged {role_tags(Role.RAW, ds.name)})")
    return raw[0]


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


def affected_partitions(
    ds: Dataset, location: str, changed: list[str], seen: set[str], known: set[str]
) -> list[str]:
    """The partitions that new or changed files (`changed`, all of them) affect. With the dataset's file ->
    partition map, exactly theirs. Without one, new files that brought new partitions affect those; a changed file
    that had been `seen` may belong to any partition, so then (or when no new partition appeared) all are redone."""
    if ds.partitions_for_files is not None:
        return sorted(set(ds.partitions_for_files(location, changed)))
    discovered = ds.discover_partitions(location) if ds.discover_partitions else []
    new = [p for p in discovered if p not in known]
    if new and not any(c in seen for c in changed):
        return sorted(new)
    return sorted(set(discovered))


def upstream_keys(ds: Dataset) -> list[dg.AssetKey]:
    """The unpartitioned assets of a dataset that its partitions read (the raw files, and e.g. AGBD's tile index):
    the source sensor materialises them once per change, before any partition run, so that partition runs only
    read them. For an unpartitioned dataset: its raw asset."""
    raw = raw_asset_key(ds)
    parts = set(partitioned_keys(ds))
    if not parts:
        return [raw]
    deps = {k: set(a.asset_deps.get(k, ())) for a in ds.defs.assets or [] for k in getattr(a, "keys", [])}
    out, frontier = {raw}, [d for p in parts for d in deps.get(p, ())]
    while frontier:
        k = frontier.pop()
        if k in deps and k not in parts and k not in out:
            out.add(k)
            frontier.extend(deps[k])
    return sorted(out, key=lambda k: k.to_user_string())


# Tags of the source sensors' runs. `cdp/heavy` is what the shipped instance config limits (deploy/local/dagster.yaml).
HEAVY_TAG = "cdp/heavy"
DONE = (dg.DagsterRunStatus.SUCCESS,)
FAILED = (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)


def _load_state(cursor: str | None) -> dict:
    """The sensor cursor: `files` (the source fingerprints acted on), `upstream` (the pending raw copy, or None)
    and `parts` (partition work not yet succeeded). A cursor of an older version held the files only."""
    raw = json.loads(cursor) if cursor else {}
    if "files" not in raw or not isinstance(raw.get("files"), dict):
        raw = {"files": raw}
    return {"files": raw["files"], "upstream": raw.get("upstream"), "parts": raw.get("parts") or {}}


def _run_record(instance: dg.DagsterInstance, run_key: str | None):
    if not run_key:
        return None
    records = instance.get_run_records(dg.RunsFilter(tags={"dagster/run_key": run_key}), limit=1)
    return records[0] if records else None


def _next_attempt(entry: dict, key_prefix: str, tags: dict, **request) -> dg.RunRequest:
    """The run request of the next attempt at one piece of sensor work (the raw copy, or a partition): the attempt
    counter and the run key (`<prefix>:<files digest>:<attempt>`) are updated in the cursor entry in place."""
    entry["attempt"] += 1
    entry["run_key"] = f"{key_prefix}:{entry['digest']}:{entry['attempt']}"
    return dg.RunRequest(
        run_key=entry["run_key"],
        tags={**tags, "cdp/attempt": str(entry["attempt"])},
        **request,
    )


def _backoff_passed(record, attempt: int, now: float) -> bool:
    """A failed attempt n is retried no earlier than interval * 2**(n-1) after its run ended."""
    ended = record.end_time or record.update_timestamp.timestamp()
    return now - ended >= settings.sensor_interval_s() * 2 ** max(0, attempt - 1)


def _materialised_after(instance: dg.DagsterInstance, keys: list[dg.AssetKey], ts: float) -> bool:
    for key in keys:
        event = instance.get_latest_materialization_event(key)
        if event is None or event.timestamp <= ts:
            return False
    return True


def build_source_sensor(ds: Dataset) -> dg.SensorDefinition:
    """The source sensor of a dataset. Per tick:
    1. new or changed files (only while none of this sensor's runs is in flight, so no two runs ever write the
       dataset's raw area at once): new dynamic partitions are added, the affected partitions are marked as wanted
       and ONE run of the upstream assets (raw copy, tile index, ...) is requested;
    2. once that run succeeded, one run per wanted partition (the partitioned assets only: they read the raw
       copy, they never write it);
    3. a failed run is requested again under a new run key (`<...>:<attempt>`) after a backoff of
       interval * 2**(attempt-1), at most `CDP_SENSOR_MAX_ATTEMPTS` times per file version: the raw copy whenever
       it failed (downloads fail transiently), a partition when its upstream was materialised again since its
       failure (repaired). Changed files start a new file version, so a repaired file is picked up at once."""
    raw_key = raw_asset_key(ds)
    part_keys = partitioned_keys(ds)
    up_keys = upstream_keys(ds)

    @dg.sensor(
        name=f"{ds.name}_source_sensor",
        description=f"Watches the {ds.name} source location (CDP_{ds.name.upper()}_SOURCE) for new or changed files, "
        "copies them once and then requests ingestion of exactly the affected partitions; failed work is retried.",
        minimum_interval_seconds=settings.sensor_interval_s(),
        asset_selection=[*up_keys, *part_keys],
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    def source_sensor(context: dg.SensorEvaluationContext):
        instance = context.instance
        location = settings.source_location(ds.name)
        try:
            current = source_fingerprints(location, ds)
        except NotImplementedError as exc:
            return dg.SkipReason(str(exc))
        except FileNotFoundError:
            return dg.SkipReason(f"{location} does not exist")
        if not context.cursor and instance.get_latest_materialization_event(raw_key) is not None:
            # First tick on an instance that already ingested this source (e.g. `make run` before `make ui`):
            # remember what is there instead of re-ingesting everything.
            context.update_cursor(json.dumps({"files": current}, sort_keys=True))
            return dg.SkipReason(f"cursor initialised with {len(current)} files already ingested")
        state = _load_state(context.cursor)
        now = time.time()
        max_attempts = settings.sensor_max_attempts()
        requests: list[dg.RunRequest] = []
        adds: list = []
        notes: list[str] = []
        tags = {"cdp/dataset": ds.name, HEAVY_TAG: "ingest"}

        up = state["upstream"]
        up_run = _run_record(instance, up and up.get("run_key"))
        in_flight = (up is not None and up_run is None and up.get("run_key")) or (
            up_run is not None and not up_run.dagster_run.is_finished
        )
        part_runs = {p: _run_record(instance, st.get("run_key")) for p, st in state["parts"].items()}
        in_flight = in_flight or any(
            r is not None and not r.dagster_run.is_finished for r in part_runs.values()
        )

        # 1. new or changed files
        seen = state["files"]
        changed = sorted(rel for rel, fp in current.items() if seen.get(rel) != fp)
        if changed and in_flight:
            notes.append(
                f"{len(changed)} changed files wait until this sensor's runs in flight have finished"
            )
        elif changed:
            digest = hashlib.sha1(
                json.dumps({c: current[c] for c in changed}, sort_keys=True).encode()
            ).hexdigest()[:16]
            if ds.partitions is not None:
                known = set(instance.get_dynamic_partitions(ds.partitions.name))
                parts = affected_partitions(ds, location, changed, set(seen), known)
                new = [p for p in parts if p not in known]
                if new:
                    adds.append(ds.partitions.build_add_request(new))
                for p in parts:
                    state["parts"][p] = {"digest": digest, "attempt": 0, "run_key": None}
                    part_runs[p] = None
                notes.append(
                    f"{len(changed)} changed files at {location} -> partitions {parts} ({len(new)} new)"
                )
            up = state["upstream"] = {"digest": digest, "attempt": 0, "run_key": None}
            up_run = None
            state["files"] = current

        # 2. the upstream run (raw copy): request it, wait for it, or retry it
        if up is not None:
            status = up_run.dagster_run.status if up_run else None
            if status in DONE:
                state["upstream"] = up = None
            elif up.get("run_key") is None or (
                status in FAILED
                and up["attempt"] < max_attempts
                and _backoff_passed(up_run, up["attempt"], now)
            ):
                requests.append(_next_attempt(up, f"{ds.name}:upstream", tags, asset_selection=up_keys))
            elif status in FAILED and up["attempt"] >= max_attempts:
                notes.append(f"raw copy failed {up['attempt']} times; waiting for the source files to change")

        # 3. partitions: only once their upstream is in place
        if up is None:
            for p in sorted(state["parts"]):
                st, run = state["parts"][p], part_runs.get(p)
                status = run.dagster_run.status if run else None
                if st.get("run_key") and status in DONE:
                    del state["parts"][p]
                    continue
                retry = (
                    status in FAILED
                    and st["attempt"] < max_attempts
                    and _backoff_passed(run, st["attempt"], now)
                    and _materialised_after(instance, up_keys, run.end_time or 0)
                )
                if st.get("run_key") is None or retry:
                    requests.append(
                        _next_attempt(st, f"{ds.name}:{p}", tags, partition_key=p, asset_selection=part_keys)
                    )
        for note in notes:
            context.log.info(note)
        cursor = json.dumps(state, sort_keys=True)
        if not requests and not adds:
            context.update_cursor(cursor)
            pending = len(state["parts"]) + (state["upstream"] is not None)
            waiting = ", waiting for a run in flight" if in_flight else ""
            return dg.SkipReason(
                "; ".join(notes) or f"nothing new at {location} ({pending} pieces of work open{waiting})"
            )
        return dg.SensorResult(run_requests=requests, dynamic_partitions_requests=adds, cursor=cursor)

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
            # Partitions only: they read the raw copy (made once by the source sensor or nightly_revalidation),
            # so the nightly per-partition runs never rewrite the raw files concurrently.
            ingest = dg.define_asset_job(
                f"{ds.name}_ingest",
                selection=dg.AssetSelection.assets(*sorted(parts, key=lambda k: k.to_user_string())),
                partitions_def=ds.partitions,
                tags={HEAVY_TAG: "ingest"},
                description=f"{ds.name}: the per-partition tables (one run per partition), read from the raw copy "
                "that the source sensor or nightly_revalidation made.",
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
        minimum_interval_seconds=settings.sensor_interval_s(),
        description="Evaluates the assets' automation conditions: typed tables and dbt models follow their upstream "
        "data, models and evaluations retrain when the content of their training data changed, and an asset whose "
        "last run failed is tried again once its inputs were updated.",
    )


AC = dg.AutomationCondition

# What every automated asset waits for: no input missing (one requested on the same tick does not count) or in
# progress, and the asset itself not in progress. Evaluated ONCE per asset, after the triggers below: each
# condition on the inputs costs a query per partitioned input on every tick, and the automation sensor's tick is
# the biggest idle cost of `make ui` (3.5 CPU-s per tick with these checks repeated in each trigger, measured on the
# samples).
INPUTS_READY = (~AC.any_deps_missing() & ~AC.any_deps_in_progress() & ~AC.in_progress()).with_label(
    "inputs_ready"
)

# eager()'s trigger (an input updated, or the asset became missing after its first evaluation), without its
# input checks, which INPUTS_READY makes.
EAGER_TRIGGER = (
    AC.in_latest_time_window() & (AC.newly_missing() | AC.any_deps_updated()).since_last_handled()
).with_label("eager")

# An asset whose latest run failed (its own step, or a step it waited for in the same run) is requested again
# once its inputs are healthy, i.e. none is missing, in progress or failed, and something that may have fixed the
# cause happened since it was last requested:
# - one of its inputs was updated (eager() alone ignores an input that was updated by the very run that failed,
#   so the asset would wait for the next upstream change);
# - its code version changed (a fixed dbt model or asset function);
# - a RETRY_CRON tick passed: a cause outside the graph (a DuckDB lock held by another process, a full disk) may
#   have gone. This is the only retry an asset without inputs can get; without it, such an asset whose first run
#   failed (e.g. a dbt reference table) was never tried again, and nothing downstream of it was built.
# Bound: one retry per input update, per code change and per RETRY_CRON period, so a deterministic failure costs
# at most one run an hour and never loops. (Used with INPUTS_READY.)
RETRY_CRON = settings.retry_cron()  # CDP_RETRY_CRON; every hour by default
RETRY_AFTER_FAILURE = (
    AC.execution_failed()
    & (
        AC.any_deps_match(AC.newly_updated()) | AC.code_version_changed() | AC.cron_tick_passed(RETRY_CRON)
    ).since_last_handled()
    & ~AC.any_deps_match(AC.execution_failed())
).with_label("retry_after_failure")

# A missing asset whose inputs are all present is requested, once per time it goes missing. eager() alone does not:
# it builds what goes missing AFTER its first evaluation, or what an input update reaches, so on a fresh instance
# an asset without inputs (a dbt reference table such as AGBD's biomes) was never built, and nothing downstream of
# it either; nor is an asset added to the code after its inputs were built. A failed attempt is not repeated here
# (it is no longer newly missing): RETRY_AFTER_FAILURE decides that. A partitioned input with no partitions yet
# does not count as present (all_deps_match). (Used with INPUTS_READY.)
MISSING_WITH_INPUTS = (
    AC.newly_missing().since(AC.newly_requested() | AC.newly_updated()) & AC.all_deps_match(~AC.missing())
).with_label("missing_with_inputs_present")

# Typed tables, dbt models, model cards, the dbt docs: follow upstream changes, and retry failed work.
EAGER = ((EAGER_TRIGGER | MISSING_WITH_INPUTS | RETRY_AFTER_FAILURE) & INPUTS_READY).with_label(
    "eager_or_retry"
)


# An asset is busy while a run builds it or the automation requests it on this tick.
BUSY = (AC.in_progress() | AC.will_be_requested()).with_label("in_progress_or_requested")


def upstream_busy(upstream: list[dg.AssetKey]) -> dg.AutomationCondition:
    """True while any asset of `upstream` (usually all the ancestors of the target) is busy: a source sensor's
    partition run still in flight two hops up, or a dbt chain requested on this tick. `upstream` is not empty."""
    out = AC.asset_matches(upstream[0], BUSY)
    for key in upstream[1:]:
        out = out | AC.asset_matches(key, BUSY)
    return out.with_label("upstream_busy")


def retrain_condition(models: list[dg.AssetKey], upstream: list[dg.AssetKey]) -> dg.AutomationCondition:
    """Models and evaluations: (re)built when missing, when the CONTENT of a warehouse table they read changed
    (dbt models report a content hash as their data version, see dagster_project/dbt.py, so a nightly rebuild of
    unchanged marts changes nothing), when their code version changed, or (evaluations) when a model they score
    was updated; otherwise only by the weekly retrain schedule. Failed work is retried as above.

    They wait until everything `upstream` of them (their ancestors, less the `models` an evaluation scores) has
    settled: nothing of it in progress or requested on this tick. A model then trains once on the finished upstream
    state instead of once per intermediate one, and an evaluation never scores a model that is about to retrain: it
    joins the model's run when the model is requested on the same tick. Before, with only the direct inputs
    watched, a partition run whose second asset was still in flight let the model train on half of it and the
    evaluation run twice (issue 18)."""
    content_changed = AC.any_deps_match(AC.data_version_changed()).allow(dg.AssetSelection.kind("dbt"))
    model_updated = AC.any_deps_updated().allow(dg.AssetSelection.assets(*models))
    trigger = (
        (AC.newly_missing() | content_changed | model_updated | AC.code_version_changed())
        .since_last_handled()
        .with_label("retrain_on_changed_data")
        | MISSING_WITH_INPUTS
        | RETRY_AFTER_FAILURE
    )
    settled = INPUTS_READY if not upstream else INPUTS_READY & ~upstream_busy(upstream)
    return (trigger & settled).with_label("retrain_on_changed_data_or_retry")


K = TypeVar("K")  # a graph's node: an asset key, a dbt unique_id


def _deps(assets_defs: list) -> dict[dg.AssetKey, set[dg.AssetKey]]:
    return {k: set(a.asset_deps.get(k, ())) for a in assets_defs for k in getattr(a, "keys", [])}


def ancestors(deps: Mapping[K, Iterable[K]], key: K) -> set[K]:
    """Everything upstream of `key` (not `key` itself), by the dependencies `deps` (node -> its parents): asset
    keys (`_deps`), or any other graph such as dbt's manifest `parent_map`."""
    out, frontier = set(), list(deps.get(key, ()))
    while frontier:
        k = frontier.pop()
        if k not in out:
            out.add(k)
            frontier.extend(deps.get(k, ()))
    return out


def trained_upstream(assets_defs: list, key: dg.AssetKey, models: list[dg.AssetKey]) -> list[dg.AssetKey]:
    """What a model or evaluation waits for (`retrain_condition`): its ancestors, less the models it scores."""
    return sorted(ancestors(_deps(assets_defs), key) - set(models), key=lambda k: k.to_user_string())


def sensor_owned_keys(assets_defs: list, partitioned: set[dg.AssetKey]) -> set[dg.AssetKey]:
    """Unpartitioned assets upstream of partitioned ones (raw files, AGBD's tile index): the source sensors
    materialise them, once per change and before the partitions, so automation must not request them too."""
    deps = _deps(assets_defs)
    out, frontier = set(), [d for p in partitioned for d in deps.get(p, ())]
    while frontier:
        k = frontier.pop()
        if k in deps and k not in partitioned and k not in out:
            out.add(k)
            frontier.extend(deps[k])
    return out


def apply_automation(assets_defs: list, partitioned: set[dg.AssetKey], raw: set[dg.AssetKey]) -> list:
    """Automation conditions on everything downstream of the raw files, except partitioned assets and what they
    read (driven by the source sensors, per partition, so a raw refresh does not re-run every partition):
    `retrain_condition` on models and evaluations, `EAGER` (eager or retry after failure) on the rest."""
    specs = [spec for a in assets_defs for spec in getattr(a, "specs", [])]
    models = keys_with_role(specs, Role.MODEL)
    trained = set(models) | set(keys_with_role(specs, Role.EVALUATION))
    retrain = {k: retrain_condition(models, trained_upstream(assets_defs, k, models)) for k in trained}
    skip = partitioned | raw | sensor_owned_keys(assets_defs, partitioned)

    def condition_where_unset(spec: dg.AssetSpec) -> dg.AssetSpec:
        if spec.key in skip or spec.automation_condition is not None:
            return spec
        return spec.replace_attributes(automation_condition=retrain.get(spec.key, EAGER))

    out = []
    for a in assets_defs:
        if isinstance(a, dg.AssetsDefinition) and a.node_def.name != DBT_ASSETS_NAME:
            a = a.map_asset_specs(condition_where_unset)
        out.append(a)
    return out
