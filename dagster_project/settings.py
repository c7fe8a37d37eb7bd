"""Where things live. Every setting is an environment variable with a safe local default.

| variable | default | meaning |
|---|---|---|
| `CDP_DATA_ROOT` | `<repo>/data/lake` | fsspec URL of all data: a local folder or `s3://bucket/prefix` (honours `AWS_ENDPOINT_URL`) |
| `CDP_WAREHOUSE_PATH` | `<repo>/data/warehouse.duckdb` | the DuckDB file dbt builds (local disk: DuckDB cannot write to S3) |
| `CDP_<NAME>_SOURCE` | `<repo>/assets/<name>` | where a dataset's source files are read from: a folder, `s3://...` or an `https://` base URL |
| `CDP_CACHE_DIR` | `<repo>/.cache/downloads` | where resumable HTTPS downloads keep their partial files |
| `CDP_SENSOR_INTERVAL_S` | `60` | minimum seconds between two ticks of the source sensors and the automation sensor |
| `CDP_SENSOR_MAX_ATTEMPTS` | `3` | runs a source sensor makes for one piece of work on unchanged files |
"""

import os
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


def sensor_interval_s() -> int:
    """`CDP_SENSOR_INTERVAL_S` (default 60): the minimum interval between two ticks of the source sensors and the
    automation sensor. Tests use a few seconds; a production instance needs no change."""
    return max(1, int(os.environ.get("CDP_SENSOR_INTERVAL_S") or 60))


def sensor_max_attempts() -> int:
    """`CDP_SENSOR_MAX_ATTEMPTS` (default 3): how often a source sensor runs one piece of work (a raw copy, a
    partition) for the same source files before it waits for the files to change."""
    return max(1, int(os.environ.get("CDP_SENSOR_MAX_ATTEMPTS") or 3))
