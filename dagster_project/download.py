"""Resumable, checksummed HTTP(S) downloads (Hugging Face "resolve" URLs, Zenodo/Rodare files, Seafile, GitHub).

A transfer writes to `<dest>.part`; if it is interrupted, the next call asks the server for the remaining bytes
(`Range: bytes=N-`) and appends. Only a complete file whose sha256 matches (when one is published) is renamed to
`dest`; a mismatch deletes the partial file and raises `ChecksumMismatchError`.
"""

import hashlib
import logging
import os
import time
from pathlib import Path

import requests

from dagster_project.errors import ChecksumMismatchError

log = logging.getLogger(__name__)
CHUNK = 1 << 16  # small enough that an interrupted transfer keeps most of what arrived


def sha256_file(path: str | Path, chunk: int = CHUNK) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def md5_file(path: str | Path, chunk: int = CHUNK) -> str:
    """md5 of a file: the only checksum some hosts publish (Zenodo, Invenio/Rodare)."""
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def fetch_url(
    url: str,
    dest: str | Path,
    *,
    expected_sha256: str | None = None,
    expected_md5: str | None = None,
    headers: dict[str, str] | None = None,
    attempts: int = 5,
    timeout: float = 60.0,
    backoff_s: float = 0.5,
) -> tuple[str, int]:
    """Download `url` to `dest`, resuming a previous partial transfer. Returns (sha256, size). A published
    sha256 and/or md5 is verified before the file is renamed into place."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    last_error: Exception | None = None
    for attempt in range(1, attempts + 1):
        have = part.stat().st_size if part.exists() else 0
        req_headers = dict(headers or {})
        if have:
            req_headers["Range"] = f"bytes={have}-"
        try:
            with requests.get(url, headers=req_headers, stream=True, timeout=timeout) as resp:
                if resp.status_code == 416:  # we already have every byte
                    break
                resp.raise_for_status()
                if have and resp.status_code != 206:
                    log.info("%s: server ignored Range, restarting from byte 0", url)
                    have = 0
                expected_total = _expected_total(resp, have)
                with open(part, "ab" if have else "wb") as f:
                    for block in resp.iter_content(CHUNK):
                        f.write(block)
                got = part.stat().st_size
                if expected_total is not None and got < expected_total:
                    raise ConnectionError(f"{url}: transfer ended at byte {got} of {expected_total}")
            break
        except (
            requests.ConnectionError,
            requests.Timeout,
            requests.exceptions.ChunkedEncodingError,  # the peer cut the body short
            ConnectionError,
        ) as exc:
            last_error = exc
            log.warning("%s: attempt %d/%d interrupted (%s); will resume", url, attempt, attempts, exc)
            time.sleep(backoff_s * attempt)
    else:
        raise ConnectionError(f"{url}: download failed after {attempts} attempts: {last_error}")

    digest = sha256_file(part)
    if expected_sha256 and digest.lower() != expected_sha256.lower():
        part.unlink(missing_ok=True)
        raise ChecksumMismatchError(url, expected_sha256, digest)
    if expected_md5 and (md5 := md5_file(part)) != expected_md5.lower():
        part.unlink(missing_ok=True)
        raise ChecksumMismatchError(url, expected_md5, md5, algorithm="md5")
    os.replace(part, dest)
    return digest, dest.stat().st_size


def _expected_total(resp: requests.Response, have: int) -> int | None:
    if resp.status_code == 206:
        content_range = resp.headers.get("Content-Range", "")  # bytes 100-199/200
        if "/" in content_range and not content_range.endswith("*"):
            return int(content_range.rsplit("/", 1)[1])
    length = resp.headers.get("Content-Length")
    if length is not None and "Content-Encoding" not in resp.headers:
        return int(length) + (have if resp.status_code == 206 else 0)
    return None
