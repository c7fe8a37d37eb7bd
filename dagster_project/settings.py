"""Where things live and how the platform is configured. Every setting is an environment variable with a safe
local default, and this module is the only one of the platform that reads the environment (a test holds every
other module to it): a reader here per setting, so the names, defaults and meanings are in one place.

| variable | default | meaning |
|---|---|---|
| `CDP_DATA_ROOT` | `<repo>/data/lake` | fsspec URL of all data: a local folder or `s3://bucket/prefix` (honours `AWS_ENDPOINT_URL`) |
| `CDP_WAREHOUSE_PATH` | `<repo>/data/warehouse.duckdb` | the DuckDB file dbt builds (local disk: DuckDB cannot write to S3) |
| `CDP_<NAME>_SOURCE` | `<repo>/assets/<name>` | where a dataset's source files are read from: a folder, `s3://...` or an `https://` base URL |
| `CDP_CACHE_DIR` | `<repo>/.cache/downloads` | where resumable HTTPS downloads keep their partial files |
| `CDP_DATASET_PACKAGES` | unset | comma-separated importable packages of datasets kept outside `dagster_project/datasets/` (each exports `DATASET`; see docs/adding-a-dataset.md) |
| `CDP_<NAME>_FILES` | unset | comma-separated relative paths of a dataset's source files to ingest (where the dataset supports it) |
| `DAGSTER_HOME` | `<repo>/.dagster_home` | the Dagster instance of `python -m dagster_project` |
| `CDP_PROFILE`, `CDP_CELERY_*`, `CDP_CLUSTER_CONCURRENT_RUNS` | see `dagster_project/executor.py` | the cluster deployment profile |
| `CDP_FOOTPRINT_*`, `CDP_GRID_*`, `CDP_WUE_ONSITE_L_PER_KWH`, `CDP_WATER_OFFSITE_L_PER_KWH` | see `dagster_project/footprint/` | footprint accounting |
| `HF_TOKEN`, `KAGGLE_USERNAME`, `KAGGLE_KEY`, `ZENODO_TOKEN` | unset | source credentials, passed to resources as `dg.EnvVar` (never copied into config) |
| `CDP_SENSOR_INTERVAL_S` | `60` | minimum seconds between two ticks of the source sensors and the automation sensor |
| `CDP_SENSOR_MAX_ATTEMPTS` | `3` | runs a source sensor makes for one piece of work on unchanged files |
| `CDP_POOL_BLOCKED_WARN_SECONDS` | `60` | a step waiting this long for a pool slot is reported at WARNING |
| `CDP_DBT_WORKER` | unset | set by a run for the processes it starts: the socket of its dbt worker (`dagster_project/dbt_worker.py`); not a user setting |

Each reader reads the environment when called, not at import, so a changed variable applies to the next run.
"""

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = REPO_ROOT / "dbt"
SAMPLES_DIR = REPO_ROOT / "assets"


def _local_default(path: Path) -> str:
    return str(path)


def data_root() -> str:
    root = os.environ.get("CDP_DATA_ROOT") or _local_default(REPO_ROOT / "data" / "lake")
    return root.rstrip("/")


def warehouse_path() -> str:
    return os.environ.get("CDP_WAREHOUSE_PATH") or str(REPO_ROOT / "data" / "warehouse.duckdb")


def cache_dir() -> Path:
    return Path(os.environ.get("CDP_CACHE_DIR") or REPO_ROOT / ".cache" / "downloads")


def source_location(dataset: str) -> str:
    """The configured source of a dataset: env `CDP_<NAME>_SOURCE`, else the shipped sample."""
    return os.environ.get(f"CDP_{dataset.upper()}_SOURCE") or str(SAMPLES_DIR / dataset)


def source_files(dataset: str) -> list[str]:
    """The files of a dataset's source named by env `CDP_<NAME>_FILES` (comma-separated relative paths; empty when
    unset), for sources that cannot be listed (an HTTPS base URL) or to ingest a subset. Read today by AGBD
    (`CDP_AGBD_FILES`) and ExioNAICS (`CDP_EXIONAICS_FILES`)."""
    raw = os.environ.get(f"CDP_{dataset.upper()}_FILES", "")
    return [f.strip() for f in raw.split(",") if f.strip()]


def dataset_packages() -> list[str]:
    """`CDP_DATASET_PACKAGES`: importable packages (comma-separated, e.g. `acme_datasets.sixth`) of datasets that
    live outside `dagster_project/datasets/`; the platform loads them beside its own (empty when unset)."""
    raw = os.environ.get("CDP_DATASET_PACKAGES", "")
    return [p.strip() for p in raw.split(",") if p.strip()]


def dagster_home(*, export: bool = False) -> Path:
    """The Dagster instance folder: env `DAGSTER_HOME`, else `<repo>/.dagster_home`. With `export`, the default is
    also written to the environment, so the subprocesses that `python -m dagster_project` starts (dagster dev,
    dbt) see the same instance."""
    default = str(REPO_ROOT / ".dagster_home")
    return Path(
        os.environ.setdefault("DAGSTER_HOME", default)
        if export
        else os.environ.get("DAGSTER_HOME") or default
    )


# ---------------------------------------------------------------------------------------------------------------
# the cluster profile (meanings and why these defaults: dagster_project/executor.py)

PROFILE_ENV = "CDP_PROFILE"


def profile() -> str:
    """`embedded` (default) or `cluster`."""
    return (os.environ.get(PROFILE_ENV) or "embedded").strip().lower()


def celery_broker() -> str:
    return os.environ.get("CDP_CELERY_BROKER") or "redis://127.0.0.1:6379/0"


def celery_backend() -> str:
    return os.environ.get("CDP_CELERY_BACKEND") or "redis://127.0.0.1:6379/1"


def celery_visibility_timeout_s() -> int:
    return int(os.environ.get("CDP_CELERY_VISIBILITY_TIMEOUT_S") or 7200)


def cluster_concurrent_runs() -> int:
    return max(1, int(os.environ.get("CDP_CLUSTER_CONCURRENT_RUNS") or 4))


# ---------------------------------------------------------------------------------------------------------------
# footprint accounting (meanings, defaults and validation: dagster_project/footprint/meters.py)

FOOTPRINT_VARIABLES = (
    "CDP_FOOTPRINT_METHOD",
    "CDP_GRID_COUNTRY",
    "CDP_GRID_CARBON_INTENSITY_G_PER_KWH",
    "CDP_FOOTPRINT_WATTS_PER_THREAD",
    "CDP_FOOTPRINT_WATTS_PER_GB",
    "CDP_WUE_ONSITE_L_PER_KWH",
    "CDP_WATER_OFFSITE_L_PER_KWH",
)


def footprint_env() -> dict[str, str]:
    """The footprint variables as set, stripped ("" when unset or empty); the footprint meters parse them, so that
    a bad value becomes an "unmeasured" reason rather than an error here."""
    return {name: os.environ.get(name, "").strip() for name in FOOTPRINT_VARIABLES}


# ---------------------------------------------------------------------------------------------------------------
# source credentials

SECRET_VARIABLES = ("HF_TOKEN", "KAGGLE_USERNAME", "KAGGLE_KEY", "ZENODO_TOKEN")


def secret_is_set(name: str) -> bool:
    """Whether a credential variable is set (non-empty). Its value is left to `dg.EnvVar`, resolved by Dagster
    when the resource is built, so it never enters config or run storage."""
    if name not in SECRET_VARIABLES:
        raise KeyError(f"{name}: not a credential variable of the platform ({', '.join(SECRET_VARIABLES)})")
    return bool(os.environ.get(name))


# ---------------------------------------------------------------------------------------------------------------
# crash safety (dagster_project/recovery.py)


def pool_blocked_warn_seconds() -> float:
    """`CDP_POOL_BLOCKED_WARN_SECONDS` (default 60): a step waiting this long for a pool slot is reported."""
    return float(os.environ.get("CDP_POOL_BLOCKED_WARN_SECONDS") or 60)


def export_run_process(marker: str) -> None:
    """Set `CDP_RUN_PROCESS=<host>@<pid>` for every child process started from now on, so that the next run can
    find what a killed runner left running."""
    os.environ["CDP_RUN_PROCESS"] = marker


DBT_WORKER_ENV = "CDP_DBT_WORKER"


def dbt_worker_socket() -> str | None:
    """`CDP_DBT_WORKER`: the socket of the dbt worker of the run this process belongs to (set by the run itself for
    the processes it starts; unset elsewhere, where `cdp-dbt` is plain dbt)."""
    return os.environ.get(DBT_WORKER_ENV) or None


def export_dbt_worker(path: str | None) -> None:
    """Point the processes started from now on at a dbt worker's socket (`None`: at none)."""
    if path:
        os.environ[DBT_WORKER_ENV] = path
    else:
        os.environ.pop(DBT_WORKER_ENV, None)


def process_environment() -> dict[str, str]:
    """This process's whole environment: what `cdp-dbt` hands to the dbt worker with a command, for the command to
    run in (dagster-dbt passes dbt's settings, e.g. `DBT_TARGET_PATH`, that way)."""
    return dict(os.environ)


def replace_process_environment(env: dict[str, str]) -> None:
    """Make `env` this process's whole environment: the dbt worker runs each command in the environment of the
    `cdp-dbt` process that asked for it."""
    os.environ.clear()
    os.environ.update(env)


def fault_pause_point() -> tuple[str | None, str | None]:
    """`CDP_TEST_PAUSE_AT` (a `<kind>:<glob>` pause point) and `CDP_TEST_PAUSE_MARKER` (a file written when it
    pauses): the fault-injection tests' hook; both unset in normal use."""
    return os.environ.get("CDP_TEST_PAUSE_AT") or None, os.environ.get("CDP_TEST_PAUSE_MARKER") or None


def sensor_interval_s() -> int:
    """`CDP_SENSOR_INTERVAL_S` (default 60): the minimum interval between two ticks of the source sensors and the
    automation sensor. Tests use a few seconds; a production instance needs no change."""
    return max(1, int(os.environ.get("CDP_SENSOR_INTERVAL_S") or 60))


def retry_cron() -> str:
    """`CDP_RETRY_CRON` (default `0 * * * *`, every hour): when the automation retries failed work that nothing
    else (an input update, a code change) re-triggers. The UI tests set one that never passes while they run, so
    what they assert does not depend on whether they cross an hour boundary."""
    return os.environ.get("CDP_RETRY_CRON") or "0 * * * *"


def sensor_max_attempts() -> int:
    """`CDP_SENSOR_MAX_ATTEMPTS` (default 3): how often a source sensor runs one piece of work (a raw copy, a
    partition) for the same source files before it waits for the files to change."""
    return max(1, int(os.environ.get("CDP_SENSOR_MAX_ATTEMPTS") or 3))


POLARS_CSV_CHUNK_ENV = "POLARS_CSV_CHUNK_SIZE"


@contextlib.contextmanager
def polars_csv_chunk_size(chunk_bytes: int) -> Iterator[None]:
    """Set polars' CSV read-ahead chunk (`POLARS_CSV_CHUNK_SIZE`, read by polars when each query starts) for the
    queries collected inside the block, then restore it. A value the operator set is left as it is. The variable is
    process-wide: collect no other thread's polars query meanwhile."""
    if POLARS_CSV_CHUNK_ENV in os.environ:
        yield
        return
    os.environ[POLARS_CSV_CHUNK_ENV] = str(chunk_bytes)
    try:
        yield
    finally:
        os.environ.pop(POLARS_CSV_CHUNK_ENV, None)
