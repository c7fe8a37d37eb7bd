"""Training-data fingerprints: exactly what a model was trained on, traceable to bytes.

Every model asset calls `training_fingerprint(...)` with the frames it fitted on (in the order it read them) and
attaches the result to its materialisation metadata; the model card shows it. The fingerprint has:
- `fingerprint/raw_manifest_sha256`: sha256 over the raw manifest's (relpath, sha256) pairs of the dataset, i.e.
  the source files as received; `fingerprint/raw_files` their count;
- `fingerprint/<frame>/rows` and `fingerprint/<frame>/sha256`: row count and content hash of each training frame
  (order-sensitive: a model fitted on the same rows in another order is a different fit);
- `fingerprint/code_version`: the git commit of the platform (with `+dirty` for uncommitted changes), else the
  package version;
- `fingerprint/id`: one sha256 over all of the above, the value to compare between two runs.
"""

import functools
import hashlib
import io
import pickle
import subprocess
from collections.abc import Mapping
from importlib import metadata as importlib_metadata
from typing import Any

import dagster as dg
import polars as pl

from dagster_project import settings
from dagster_project.raw import read_manifest
from dagster_project.storage import Lake

PREFIX = "fingerprint/"


def frame_sha256(df: pl.DataFrame) -> str:
    """Content hash of a frame: its schema and values, in row order (uncompressed Arrow IPC bytes)."""
    buf = io.BytesIO()
    df.write_ipc(buf, compression="uncompressed")
    digest = hashlib.sha256()
    digest.update(repr(list(df.schema.items())).encode())
    # The IPC stream embeds no timestamps, so equal frames give equal bytes within one library version.
    digest.update(buf.getvalue())
    return digest.hexdigest()


def object_sha256(obj: Any) -> str:
    """sha256 of an object's pickle (what the IO manager stores): equal fits give equal hashes."""
    return hashlib.sha256(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)).hexdigest()


def raw_manifest_sha256(lake: Lake, dataset: str) -> tuple[str, int]:
    """sha256 over the (relpath, sha256) pairs of the dataset's raw manifest, and the number of files."""
    manifest = read_manifest(lake, dataset)
    digest = hashlib.sha256()
    if manifest.height:
        for relpath, sha in manifest.select("relpath", "sha256").sort("relpath").iter_rows():
            digest.update(f"{relpath}\t{sha}\n".encode())
    return digest.hexdigest(), manifest.height


@functools.cache
def code_version() -> str:
    """The platform's git commit (`+dirty` when the work tree differs), else the installed package version."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=settings.REPO_ROOT, capture_output=True, text=True, timeout=10
        )
        if head.returncode == 0:
            dirty = subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no", "--", "dagster_project", "dbt"],
                cwd=settings.REPO_ROOT,
                capture_output=True,
                text=True,
                timeout=10,
            )
            return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):  # no git on this machine: fall back to the package version
        pass
    try:
        return importlib_metadata.version("climate-data-platform")
    except importlib_metadata.PackageNotFoundError:
        return "unknown"


def training_fingerprint(
    lake: Lake, dataset: str, frames: Mapping[str, pl.DataFrame]
) -> dict[str, dg.MetadataValue]:
    """Metadata naming exactly what a model was fitted on: raw files, each training frame, the code version."""
    raw_sha, raw_files = raw_manifest_sha256(lake, dataset)
    parts: dict[str, Any] = {
        "raw_manifest_sha256": raw_sha,
        "raw_files": raw_files,
        "code_version": code_version(),
    }
    for name, df in frames.items():
        parts[f"{name}/rows"] = df.height
        parts[f"{name}/sha256"] = frame_sha256(df)
    combined = hashlib.sha256(
        "\n".join(f"{k}={v}" for k, v in sorted(parts.items()) if k != "code_version").encode()
    ).hexdigest()
    out: dict[str, dg.MetadataValue] = {}
    for key, value in parts.items():
        out[PREFIX + key] = (
            dg.MetadataValue.int(value) if isinstance(value, int) else dg.MetadataValue.text(value)
        )
    out[PREFIX + "id"] = dg.MetadataValue.text(combined)
    return out
