"""The footprint log: one parquet file per measurement on the data root, under `footprint/log/<asset_key>/` (a new
file per measurement, so concurrent steps never write the same object), and the `platform_footprint_log` asset
that dbt's `platform.footprint_log` source points at (modelled by the `platform_footprint` mart).

This module knows nothing about how a figure was measured (`meters.py`): it stores rows of `LOG_SCHEMA`."""

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import dagster as dg
import polars as pl
from botocore.exceptions import BotoCoreError

from dagster_project.roles import Role, role_tags
from dagster_project.storage import Lake

if TYPE_CHECKING:  # an annotation only: meters imports this module
    from dagster_project.footprint.meters import Footprint

LOG_DIR = "footprint/log"
# An empty file with the log's columns, so that dbt's glob always matches (a lake with no measurement yet still
# builds the mart, with zero rows).
LOG_SCHEMA_FILE = f"{LOG_DIR}/_schema.parquet"

PLATFORM_GROUP = "platform"
FOOTPRINT_LOG_KEY = dg.AssetKey("platform_footprint_log")

# What writing the log can raise, and so what `measure_footprint` reports as `footprint/log_error` instead of
# failing the run: OSError for the local disk and for S3 (s3fs translates S3's HTTP errors into OSError
# subclasses), BotoCoreError for what s3fs passes through untranslated (no endpoint, no credentials), and
# PolarsError for a parquet file polars cannot write.
LOG_WRITE_ERRORS: tuple[type[BaseException], ...] = (OSError, BotoCoreError, pl.exceptions.PolarsError)

LOG_SCHEMA: dict[str, pl.DataType] = {
    "measurement_id": pl.String(),
    "run_id": pl.String(),
    "asset_key": pl.String(),
    "dataset": pl.String(),
    "partition_key": pl.String(),
    "task": pl.String(),
    "started_at": pl.Datetime("us", "UTC"),
    "ended_at": pl.Datetime("us", "UTC"),
    "wall_s": pl.Float64(),
    "cpu_s": pl.Float64(),
    "peak_rss_mb": pl.Float64(),
    "energy_kwh": pl.Float64(),
    "cpu_energy_kwh": pl.Float64(),
    "ram_energy_kwh": pl.Float64(),
    "gpu_energy_kwh": pl.Float64(),
    "co2e_kg": pl.Float64(),
    "water_l": pl.Float64(),
    "status": pl.String(),
    "method": pl.String(),
    "measured": pl.Boolean(),
    "unmeasured_reason": pl.String(),
    "grid_country": pl.String(),
    "grid_intensity_g_per_kwh": pl.Float64(),
    "grid_intensity_source": pl.String(),
    "wue_onsite_l_per_kwh": pl.Float64(),
    "water_offsite_l_per_kwh": pl.Float64(),
    "hardware": pl.String(),
    "cpu_threads": pl.Int32(),
    "hostname": pl.String(),
}


def lake_of(context) -> Lake:
    """The lake to log to: the `lake` resource if the asset asked for it, else the lake of its IO manager (every
    asset has one), else the configured data root."""
    if context is not None:
        resources = getattr(context, "resources", None)
        for candidate in (
            getattr(resources, "lake", None),
            getattr(getattr(resources, "io_manager", None), "lake", None),
        ):
            if isinstance(candidate, Lake):
                return candidate
    return Lake.from_env()


def log_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=LOG_SCHEMA)


def ensure_log_schema(lake: Lake) -> None:
    """Write the empty schema file of the footprint log if it is missing (see `LOG_SCHEMA_FILE`)."""
    if not lake.exists(LOG_SCHEMA_FILE):
        lake.write_parquet(log_frame([]), LOG_SCHEMA_FILE)


def append_to_log(lake: Lake, fp: "Footprint") -> str:
    """Append one measurement: a new parquet file, written atomically, so concurrent steps never collide."""
    key = re.sub(r"[^A-Za-z0-9_.-]", "_", fp.asset_key or "unknown")
    relpath = f"{LOG_DIR}/{key}/{fp.measurement_id}.parquet"
    ensure_log_schema(lake)
    lake.write_parquet(log_frame([fp.record()]), relpath)
    return relpath


def read_log(lake: Lake) -> pl.DataFrame:
    """Every measurement in the footprint log (the schema file contributes no rows)."""
    files = [lake.relative(p) for p in lake.glob(f"{LOG_DIR}/**/*.parquet")]
    frames = [lake.read_parquet(f) for f in files]
    return pl.concat(frames, how="vertical_relaxed") if frames else log_frame([])


def build_footprint_log_asset(upstream: Iterable[dg.AssetKey]) -> dg.AssetsDefinition:
    """The footprint log as an asset downstream of every measured asset (models, evaluations, model cards), so
    the `platform_footprint` mart is rebuilt after them and lineage shows where its rows come from."""

    @dg.asset(
        key=FOOTPRINT_LOG_KEY,
        group_name=PLATFORM_GROUP,
        kinds={"parquet", "polars"},
        tags=role_tags(Role.LOG),
        deps=sorted(set(upstream), key=lambda k: k.to_user_string()),
        required_resource_keys={"lake"},
    )
    def platform_footprint_log(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        """The footprint log: one parquet file per measured training or evaluation step (energy, CO2e, water,
        wall and CPU time, peak memory, method), appended by `measure_footprint` under `footprint/log/` on the
        data root. This asset makes sure the log is readable by dbt (an empty schema file when nothing was measured
        yet) and reports its totals; `platform_footprint` models it per asset, run and dataset."""
        lake = context.resources.lake
        ensure_log_schema(lake)
        log = read_log(lake)
        totals = log.select(
            pl.col("energy_kwh").sum(),
            pl.col("co2e_kg").sum(),
            pl.col("water_l").sum(),
            pl.col("wall_s").sum(),
        ).row(0, named=True)
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": log.height,
                "path": dg.MetadataValue.path(lake.url(LOG_DIR)),
                "unmeasured": int((log["status"] == "unmeasured").sum()) if log.height else 0,
                "total_energy_kwh": dg.MetadataValue.float(float(totals["energy_kwh"] or 0.0)),
                "total_co2e_kg": dg.MetadataValue.float(float(totals["co2e_kg"] or 0.0)),
                "total_water_l": dg.MetadataValue.float(float(totals["water_l"] or 0.0)),
                "total_wall_s": dg.MetadataValue.float(float(totals["wall_s"] or 0.0)),
            }
        )

    return platform_footprint_log
