"""Raw area: source files copied byte for byte under `raw/<dataset>/`, with a manifest.

The manifest (`raw/<dataset>/_manifest.parquet`) has one row per file: relpath, size, sha256, source_url,
retrieved_at, raw_path. Re-ingesting an unchanged file is a no-op; a file whose bytes changed at the source is
copied again and its previous copy moved to `raw/<dataset>/_history/<timestamp>/<relpath>`, so nothing is lost.
"""

import datetime as dt
import hashlib
import logging
from collections.abc import Callable, Iterable

import polars as pl

from dagster_project import settings
from dagster_project.download import fetch_url
from dagster_project.storage import Lake, filesystem_for

log = logging.getLogger(__name__)
CHUNK = 8 << 20
MANIFEST_SCHEMA = {
    "relpath": pl.String,
    "size": pl.Int64,
    "sha256": pl.String,
    "source_url": pl.String,
    "retrieved_at": pl.Datetime("us", "UTC"),
    "raw_path": pl.String,
}


def is_http(url: str) -> bool:
    return url.startswith(("http://", "https://"))


def list_source_files(source: str, patterns: Iterable[str] | None = None) -> list[str]:
    """Relative paths of the files under a local or fsspec source (sorted, hidden files skipped)."""
    fs, base = filesystem_for(source)
    base = base.rstrip("/")
    if not fs.exists(base):
        raise FileNotFoundError(f"{source}: source location does not exist")
    found = fs.find(base)
    rels = sorted(p[len(base) :].lstrip("/") for p in found)
    rels = [r for r in rels if not any(part.startswith(".") for part in r.split("/"))]
    if patterns:
        import fnmatch

        pats = list(patterns)
        rels = [r for r in rels if any(fnmatch.fnmatch(r, p) for p in pats)]
    return rels


def raw_relpath(dataset: str, relpath: str = "") -> str:
    """Where a dataset's raw copy of `relpath` lives on the lake (the one place that spells the raw layout)."""
    return f"raw/{dataset}/{relpath}" if relpath else f"raw/{dataset}"


def manifest_path(dataset: str) -> str:
    return raw_relpath(dataset, "_manifest.parquet")


def read_manifest(lake: Lake, dataset: str) -> pl.DataFrame:
    if not lake.exists(manifest_path(dataset)):
        return pl.DataFrame(schema=MANIFEST_SCHEMA)
    return lake.read_parquet(manifest_path(dataset))


def ingest_raw(
    lake: Lake,
    dataset: str,
    source: str,
    relpaths: Iterable[str] | None = None,
    *,
    sha256: dict[str, str] | None = None,
    md5: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    url_for: Callable[[str], str] | None = None,
    log_fn: Callable[[str], None] | None = None,
) -> pl.DataFrame:
    """Copy the source's files into the raw area and return the up-to-date manifest.

    `source` is a folder, an fsspec URL (`s3://...`) or an HTTP(S) base URL. For HTTP sources the file list must
    be given (`relpaths`), since a web server cannot be listed; `url_for(relpath)` may map a relative path to its
    download URL (default: `<source>/<relpath>`), `sha256` / `md5` give published checksums to verify (before
    anything is copied into the raw area).
    """
    say = log_fn or log.info
    if relpaths is None:
        if is_http(source):
            raise ValueError(f"{source}: an HTTP source needs an explicit file list")
        relpaths = list_source_files(source)
    relpaths = list(relpaths)
    if not relpaths:
        raise FileNotFoundError(f"{source}: no source files found")
    previous = {r["relpath"]: r for r in read_manifest(lake, dataset).iter_rows(named=True)}
    now = dt.datetime.now(dt.UTC)
    rows, copied, unchanged = [], 0, 0
    for i, rel in enumerate(relpaths, 1):
        src_url = (url_for(rel) if url_for else f"{source.rstrip('/')}/{rel}") if is_http(source) else None
        raw_rel = raw_relpath(dataset, rel)
        if src_url is not None:
            local = settings.cache_dir() / dataset / rel
            digest, size = fetch_url(
                src_url,
                local,
                expected_sha256=(sha256 or {}).get(rel),
                expected_md5=(md5 or {}).get(rel),
                headers=headers,
            )
            opener = lambda p=local: open(p, "rb")  # noqa: E731
        else:
            fs, base = filesystem_for(source)
            src_path = f"{base.rstrip('/')}/{rel}"
            src_url = src_path if "://" not in source else f"{source.rstrip('/')}/{rel}"
            opener = lambda fs=fs, p=src_path: fs.open(p, "rb")  # noqa: E731
            digest, size = None, None
        prev = previous.get(rel)
        if digest is None:
            digest, size = _hash_stream(opener)
        if prev is not None and prev["sha256"] == digest and lake.exists(raw_rel):
            rows.append(prev)
            unchanged += 1
            continue
        if prev is not None and lake.exists(raw_rel):
            stamp = prev["retrieved_at"].strftime("%Y%m%dT%H%M%S")
            history = lake.path(raw_relpath(dataset, f"_history/{stamp}/{rel}"))
            lake.fs.makedirs(history.rsplit("/", 1)[0], exist_ok=True)
            lake.fs.mv(lake.path(raw_rel), history)
            say(f"{rel}: changed at the source; previous copy kept at {history}")
        with opener() as src, lake.atomic_open(raw_rel, "wb") as dst:
            h = hashlib.sha256()
            while block := src.read(CHUNK):
                h.update(block)
                dst.write(block)
        if h.hexdigest() != digest:  # the source changed while we copied it
            raise OSError(f"{src_url}: rule 'source stable during copy' failed: sha256 changed mid-copy")
        rows.append(
            {
                "relpath": rel,
                "size": size,
                "sha256": digest,
                "source_url": src_url,
                "retrieved_at": now,
                "raw_path": lake.url(raw_rel),
            }
        )
        copied += 1
        if i % 50 == 0 or i == len(relpaths):
            say(f"{dataset}: raw {i}/{len(relpaths)} files ({copied} copied, {unchanged} unchanged)")
    kept = [r for rel, r in previous.items() if rel not in set(relpaths)]
    manifest = pl.DataFrame(rows + kept, schema=MANIFEST_SCHEMA).sort("relpath")
    lake.write_parquet(manifest, manifest_path(dataset))
    return manifest


def _hash_stream(opener: Callable) -> tuple[str, int]:
    h, size = hashlib.sha256(), 0
    with opener() as f:
        while block := f.read(CHUNK):
            h.update(block)
            size += len(block)
    return h.hexdigest(), size


def open_raw(lake: Lake, dataset: str, relpath: str, mode: str = "rb"):
    """Open a raw file (as received) for reading."""
    return lake.fs.open(lake.path(raw_relpath(dataset, relpath)), mode)
