"""Published records on Invenio hosts (Zenodo, Rodare): file lists, verified downloads into the raw area, archives.

A record page (`https://zenodo.org/records/<id>`, `https://rodare.hzdr.de/record/<id>`) has a JSON API at
`<host>/api/records/<id>` that lists the record's files with their download link, size and md5 (`md5:<hex>`), in
the InvenioRDM shape (`files.entries`, a dict or list), the legacy shape (`files`, a list) or the files-API shape
(`entries`, a list). Files are downloaded resumably and their md5 verified before anything reaches the raw area
(`dagster_project.raw.ingest_raw`); archives are unpacked member by member, refusing paths that escape the
target folder. Which files and which folder inside an archive make up a dataset is left to the dataset.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tarfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from dagster_project import settings
from dagster_project.download import fetch_url, md5_file
from dagster_project.errors import SourceFormatError

if TYPE_CHECKING:
    # The raw area and the lake (`storage.Lake` is a Dagster resource) are imported only by `download_record`, when
    # it runs: a dataset's `source.py` imports this module for the record parsers and stays free of Dagster.
    from dagster_project.storage import Lake

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RemoteFile:
    """One file of a published record: its name, download URL, size, md5 (lower-case hex) and the checksum as
    the record publishes it (e.g. 'md5:<hex>')."""

    key: str
    url: str
    size: int | None
    md5: str | None
    checksum: str | None = None


def record_api_url(record_url: str) -> str:
    """Invenio JSON API URL of a record page (Zenodo '/records/N', Rodare '/record/N')."""
    m = re.match(r"^(https?://[^/]+(?:/.*?)?)/records?/(\d+)/?$", record_url.rstrip("/"))
    if not m:
        raise ValueError(
            f"{record_url}: not an Invenio record URL (expected .../records/<id> or .../record/<id>)"
        )
    return f"{m.group(1)}/api/records/{m.group(2)}"


def record_entries(doc: dict) -> list[dict]:
    """The raw file entries of a record JSON, whatever its shape (files API `entries`, InvenioRDM `files.entries`
    as a dict or list, legacy `files` list)."""
    entries = doc.get("entries")
    if entries is None:
        entries = doc.get("files") or []
        if isinstance(entries, dict):  # InvenioRDM: {"enabled": ..., "entries": {key: {...}} or [...]}
            entries = entries.get("entries") or []
    return list(entries.values()) if isinstance(entries, dict) else list(entries)


def parse_record(doc: dict, file: str, *, api_base: str | None = None) -> list[RemoteFile]:
    """The files of a record JSON (already decoded), sorted by key. `file` names the record in errors. An entry
    without a link is an error, unless `api_base` is given: then it is the files API's `<api_base>/files/<key>/content`."""
    out = []
    for i, e in enumerate(record_entries(doc)):
        key = e.get("key") or e.get("filename")
        links = e.get("links") or {}
        url = links.get("content") or links.get("self") or links.get("download")
        if key and not url and api_base:
            url = f"{api_base.rstrip('/')}/files/{key}/content"
        if not key or not url:
            raise SourceFormatError(file, "each record file has a key and a link", json.dumps(e)[:200], row=i)
        checksum = e.get("checksum")
        md5 = checksum.split(":", 1)[1].lower() if checksum and checksum.lower().startswith("md5:") else None
        out.append(
            RemoteFile(key=key, url=url, size=e.get("size") or e.get("filesize"), md5=md5, checksum=checksum)
        )
    return sorted(out, key=lambda f: f.key)


def parse_record_files(payload: bytes | str, file: str, *, api_base: str | None = None) -> list[RemoteFile]:
    """Files of an Invenio record from its JSON text; a record that is not JSON or lists no file is an error."""
    try:
        doc = json.loads(payload)
    except ValueError as exc:
        raise SourceFormatError(file, "record metadata is JSON", str(exc)) from None
    files = parse_record(doc, file, api_base=api_base)
    if not files:
        raise SourceFormatError(file, "record lists its files", "no 'files' in the record JSON")
    return files


def cache_path(dataset: str, rel: str) -> Path:
    """Local (download cache) path of a dataset's downloaded file."""
    return settings.cache_dir() / dataset / rel


def fetch_record_json(api_url: str, dataset: str, *, headers: dict[str, str] | None = None) -> bytes:
    """The record JSON, fetched fresh every time (it is small and changes with every new version)."""
    dest = cache_path(dataset, "_record.json")
    dest.unlink(missing_ok=True)
    dest.with_name(dest.name + ".part").unlink(missing_ok=True)
    fetch_url(api_url, dest, headers=headers)
    return dest.read_bytes()


def list_record_files(
    api_url: str, dataset: str, *, headers: dict[str, str] | None = None
) -> list[RemoteFile]:
    """The files of the record whose JSON API is `api_url` (see `record_api_url`); an entry without a link is read
    from the files API (`<api_url>/files/<key>/content`)."""
    payload = fetch_record_json(api_url, dataset, headers=headers)
    return parse_record_files(payload, api_url, api_base=api_url)


def api_url_of(location: str) -> str:
    """The JSON API URL of a record given as its page (`.../records/<id>`, `.../record/<id>`) or as its API URL
    already (`.../api/records/<id>`)."""
    return location.rstrip("/") if re.search(r"/api/records/\d+/?$", location) else record_api_url(location)


def remote_zip_names(url: str, block_size: int = 1 << 16) -> list[str]:
    """Member names of a remote zip, read by HTTP range requests: only the end-of-archive directory is fetched
    (small blocks, so no more than that)."""
    import fsspec

    with fsspec.open(url, "rb", block_size=block_size) as fh, zipfile.ZipFile(fh) as z:
        return z.namelist()


@dataclass(frozen=True)
class Downloaded:
    """A record file received into the raw area: its raw relpath, the record's entry and the verified local copy."""

    rel: str
    file: RemoteFile
    local: Path


def download_record(
    lake: Lake,
    dataset: str,
    location: str,
    files: list[RemoteFile],
    *,
    prefix: str = "_archives",
    headers: dict[str, str] | None = None,
    log_fn: Callable[[str], None] | None = None,
    reuse_unchanged: bool = False,
) -> tuple[pl.DataFrame, list[Downloaded]]:
    """Download a record's files into `raw/<dataset>/<prefix>/<key>` as received (resumable; the record's md5
    verified before anything reaches the raw area; sha256 in the manifest). Returns the manifest and the files
    with their local copies (in the download cache), in record order.

    With `reuse_unchanged`, a file already in the raw area whose published md5 still matches is not downloaded
    again (the raw copy refills the local cache if that was cleared)."""
    from dagster_project.raw import ingest_raw, raw_relpath, read_manifest

    say = log_fn or log.info
    by_rel = {f"{prefix}/{f.key}": f for f in files}
    previous = set(read_manifest(lake, dataset)["relpath"].to_list()) if reuse_unchanged else set()
    to_fetch = []
    for rel, f in by_rel.items():
        local = cache_path(dataset, rel)
        if f.md5 and rel in previous and lake.exists(raw_relpath(dataset, rel)):
            if not local.exists():
                local.parent.mkdir(parents=True, exist_ok=True)
                lake.fs.get(lake.path(raw_relpath(dataset, rel)), str(local))
            if md5_file(local) == f.md5:
                say(f"{rel}: unchanged at the source (md5 {f.md5}), not downloaded again")
                continue
        to_fetch.append(rel)
    if to_fetch:
        manifest = ingest_raw(
            lake,
            dataset,
            location,
            to_fetch,
            url_for=lambda rel: by_rel[rel].url,
            md5={rel: by_rel[rel].md5 for rel in to_fetch if by_rel[rel].md5},
            headers=headers,
            log_fn=log_fn,
        )
    else:
        manifest = read_manifest(lake, dataset)
    return manifest, [Downloaded(rel, f, cache_path(dataset, rel)) for rel, f in by_rel.items()]


def unpack_archive(
    archive: str | Path, dest: str | Path, *, root_of: Callable[[list[str]], str] | None = None
) -> str:
    """Unpack a zip or tar archive into `dest` and return the folder where its content starts (`dest`, or
    `dest/<root_of(member names)>`; `root_of` runs before anything is written, so it can refuse the archive).

    Members are written atomically one by one (temp + rename) and skipped when already there with the right
    size, so an interrupted extraction resumes. Paths escaping `dest` are refused; only regular files are
    extracted (no links, devices or directories)."""
    archive = str(archive)
    dest_p = Path(dest).resolve()

    def put(name: str, size: int, open_member) -> None:
        t = (dest_p / name).resolve()
        if dest_p not in t.parents:
            raise SourceFormatError(archive, "archive members stay inside the target folder", name)
        if t.exists() and t.stat().st_size == size:
            return
        t.parent.mkdir(parents=True, exist_ok=True)
        tmp = t.with_name(t.name + ".part")
        with open_member() as src, open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst, 8 << 20)
        os.replace(tmp, t)

    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            infos = [i for i in z.infolist() if not i.is_dir()]
            root = root_of([i.filename for i in infos]) if root_of else ""
            for i in infos:
                put(i.filename, i.file_size, lambda i=i: z.open(i))
    elif tarfile.is_tarfile(archive):
        with tarfile.open(archive) as t:
            members = [m for m in t.getmembers() if m.isfile()]
            root = root_of([m.name for m in members]) if root_of else ""
            for m in members:
                put(m.name, m.size, lambda m=m: t.extractfile(m))
    else:
        raise SourceFormatError(archive, "download is a zip or tar archive", "unrecognised archive format")
    return str(dest_p / root) if root else str(dest_p)


def is_archive(path: str | Path) -> bool:
    return zipfile.is_zipfile(path) or tarfile.is_tarfile(path)


@dataclass(frozen=True)
class RecordSource:
    """A dataset published as an Invenio record (Zenodo, Rodare): which of its files make up the dataset's layout.

    `ingest` downloads the record's files into `raw/<dataset>/<prefix>/` as received (resumable, the record's md5
    verified before anything reaches the raw area, an unchanged file not downloaded again), unpacks each archive
    with `unpack(archive, dest) -> folder where the layout starts` (default `unpack_archive`), takes loose files
    whose suffix is in `loose_suffixes` as they are, and copies the files matching `patterns` into
    `raw/<dataset>/` like a folder source. `list_remote` gives the source sensor its fingerprints."""

    dataset: str
    patterns: tuple[str, ...] | None = None
    unpack: Callable[[str, str], str] = unpack_archive
    loose_suffixes: tuple[str, ...] = ()
    prefix: str = "_archives"

    def files(self, location: str, headers: dict[str, str] | None = None) -> list[RemoteFile]:
        """The record's files, from its JSON API (fetched fresh: it is small and changes with each version)."""
        return list_record_files(api_url_of(location), self.dataset, headers=headers)

    def list_remote(self, location: str) -> dict[str, str]:
        """{raw relpath: md5 (else the published checksum, else the size)} of the record's files."""
        return {
            f"{self.prefix}/{f.key}": f.md5 or f.checksum or f"size:{f.size}" for f in self.files(location)
        }

    def ingest(
        self,
        lake: Lake,
        location: str,
        *,
        headers: dict[str, str] | None = None,
        log_fn: Callable[[str], None] | None = None,
    ) -> pl.DataFrame:
        """Download, verify, keep and unpack the record (see the class); returns the raw manifest."""
        from dagster_project.errors import ChecksumMismatchError
        from dagster_project.raw import ingest_raw, list_source_files

        say = log_fn or log.info
        try:
            manifest, downloaded = download_record(
                lake,
                self.dataset,
                location,
                self.files(location, headers),
                prefix=self.prefix,
                headers=headers,
                log_fn=say,
                reuse_unchanged=True,
            )
        except ChecksumMismatchError as exc:  # name both digests 'md5:<hex>', as the record publishes them
            if exc.expected.startswith("md5:"):
                raise
            raise ChecksumMismatchError(
                exc.url, f"md5:{exc.expected}", f"md5:{exc.actual}", algorithm="md5"
            ) from exc
        extracted = settings.cache_dir() / self.dataset / "extracted"
        roots: list[str] = []
        for d in downloaded:
            if is_archive(d.local):
                roots.append(self.unpack(str(d.local), str(extracted / d.file.key)))
                say(f"{d.rel}: unpacked to {roots[-1]}")
            elif d.local.suffix.lower() in self.loose_suffixes:
                loose = extracted / "_files"
                (loose / d.file.key).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(d.local, loose / d.file.key)
                roots += [] if str(loose) in roots else [str(loose)]
            else:
                say(f"{d.rel}: neither an archive nor a file of the layout, kept in raw only")
        if not roots:
            raise SourceFormatError(
                location,
                f"record holds the {self.dataset} layout (an archive or its files)",
                str([d.rel for d in downloaded]),
            )
        for root in roots:
            rels = list_source_files(root, self.patterns)
            if rels:
                manifest = ingest_raw(lake, self.dataset, root, rels, log_fn=say)
        return manifest
