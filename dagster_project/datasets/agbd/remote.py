"""Where an AGBD release lives and how to list it: a folder / s3:// prefix (listed), the Hugging Face Hub (shards
and LFS sha256 from the tree API, "resolve" URLs) or an HTTPS host of the HDF5 release (the ETH libdrive share
addresses files by query string); tile discovery over HTTP reads only HDF5 headers / parquet lat/lon chunks."""

from __future__ import annotations

from dataclasses import dataclass

from dagster_project.errors import SourceFormatError
from dagster_project.raw import is_http
from dagster_project.storage import filesystem_for

from .h5_reader import open_h5
from .hf_reader import hf_row_group_tiles
from .layout import FORMAT_HDF5, FORMAT_HF, H5_NAME, HF_SHARD, SPLITS_FILE, STATISTICS_FILE
from .source import list_tiles, source_files

# Remote locations. The HDF5 release sits on an ETH libdrive share whose files are addressed by a query string;
# the HF release is addressed by "resolve" URLs, and its file list (with LFS sha256) comes from the Hub tree API.
HDF5_SHARE_URL = "https://libdrive.ethz.ch/index.php/s/VPio6i5UlXTgir0/download"
HF_REPO = "prs-eth/AGBD_raw"
HF_RESOLVE_URL = f"https://huggingface.co/datasets/{HF_REPO}/resolve/main"
HF_TREE_URL = f"https://huggingface.co/api/datasets/{HF_REPO}/tree/main/data"


def hdf5_release_files(years=(2019, 2020), chunks: int = 20) -> list[str]:
    """The file names of the full HDF5 release (``Models/download.sh``)."""
    names = [f"data_subset-{y}-v4_{i}-{chunks}.h5" for y in years for i in range(chunks)]
    return [*names, SPLITS_FILE, STATISTICS_FILE]


def hdf5_release_url(relpath: str, base: str = HDF5_SHARE_URL) -> str:
    """Download URL of one file of the HDF5 release (libdrive share: ``?path=/&files=<name>``)."""
    return f"{base}?path=%2F&files={relpath}"


def hf_resolve_url(relpath: str, base: str = HF_RESOLVE_URL) -> str:
    """Download URL of one file of ``prs-eth/AGBD_raw`` (e.g. ``data/train-00000-of-02126.parquet``)."""
    return f"{base.rstrip('/')}/{relpath}"


def hf_files_from_tree(tree: list[dict]) -> list[tuple[str, int, str | None]]:
    """(relpath, size, sha256) of each parquet shard in a Hub tree listing (LFS files carry their sha256)."""
    out = []
    for entry in tree:
        path = entry.get("path", "")
        if entry.get("type") == "file" and HF_SHARD.match(path):
            lfs = entry.get("lfs") or {}
            out.append((path, int(lfs.get("size", entry.get("size", 0))), lfs.get("oid")))
    return sorted(out)


# ----------------------------------------------------------------------------------------------------------
# Source locations: a folder / s3:// prefix (listed), or an HTTPS host (file list from the Hub API or config)


@dataclass(frozen=True)
class RemoteFiles:
    """What to fetch from a source location: release format, relative paths, published sha256, URL mapping."""

    fmt: str
    relpaths: list[str]
    sha256: dict[str, str]
    url_for: object | None = None  # Callable[[str], str] for HTTP sources


def is_hf_location(location: str) -> bool:
    """An HF "resolve" base URL (``https://huggingface.co/datasets/<repo>/resolve/<revision>``)."""
    return "/resolve/" in location


def hf_tree_url(resolve_base: str) -> str:
    """Hub tree API URL listing ``data/`` of the repo a resolve base URL points at."""
    host, rest = resolve_base.rstrip("/").split("/datasets/", 1)
    repo, revision = rest.split("/resolve/", 1)
    return f"{host}/api/datasets/{repo}/tree/{revision}/data"


def hf_list_shards(resolve_base: str, headers: dict | None = None) -> list[tuple[str, int, str | None]]:
    """Parquet shards of an HF dataset repo with their LFS sha256, following the API's pagination links."""
    import requests

    url: str | None = hf_tree_url(resolve_base)
    entries: list[dict] = []
    while url:
        resp = requests.get(url, headers=headers or {}, timeout=60)
        resp.raise_for_status()
        entries.extend(resp.json())
        url = resp.links.get("next", {}).get("url")
    shards = hf_files_from_tree(entries)
    if not shards:
        raise SourceFormatError(
            hf_tree_url(resolve_base), "HF repo lists data/*.parquet shards", "none listed"
        )
    return shards


def remote_files(location: str, files: list[str] | None = None, headers: dict | None = None) -> RemoteFiles:
    """The files of the release at ``location``. Folders and s3:// prefixes are listed; an HF resolve URL is
    listed through the Hub API (with sha256); any other HTTPS host serves the HDF5 release, whose file names are
    ``files`` or the full release list (the ETH libdrive share addresses files by query string)."""
    if not is_http(location):
        fs, root = filesystem_for(location)
        fmt, rel = source_files(fs, root)
        if files:
            rel = [r for r in rel if r in set(files)]
        return RemoteFiles(fmt, rel, {})
    base = location.rstrip("/")
    if is_hf_location(base):
        shards = hf_list_shards(base, headers)
        chosen = [s for s in shards if not files or s[0] in set(files)]
        return RemoteFiles(
            FORMAT_HF,
            [s[0] for s in chosen],
            {s[0]: s[2] for s in chosen if s[2]},
            lambda rel, b=base: hf_resolve_url(rel, b),
        )
    names = list(files) if files else hdf5_release_files()
    if "libdrive" in base:
        return RemoteFiles(FORMAT_HDF5, names, {}, lambda rel, b=base: hdf5_release_url(rel, b))
    return RemoteFiles(FORMAT_HDF5, names, {}, lambda rel, b=base: f"{b}/{rel}")


DISCOVERY_BLOCK_SIZE = 1 << 14


def discover_tiles(location: str, files: list[str] | None = None) -> list[str]:
    """Tile names in the source (the ``agbd_tiles`` partition keys). HTTP sources are read with range requests:
    only the HDF5 group names / the parquet lat/lon columns travel."""
    if not is_http(location):
        fs, root = filesystem_for(location)
        return list_tiles(fs, root)
    import fsspec

    rf = remote_files(location, files)
    # small blocks: only the HDF5 headers / parquet footers and lat/lon column chunks are fetched
    http = fsspec.filesystem("http", block_size=DISCOVERY_BLOCK_SIZE)
    tiles: set[str] = set()
    for rel in rf.relpaths:
        url = rf.url_for(rel)
        if rf.fmt == FORMAT_HF:
            for t in hf_row_group_tiles(http, url, rel):
                tiles.update(t.tolist())
        elif H5_NAME.match(rel):
            with open_h5(http, url, rel) as f:
                tiles.update(f.keys())
    return sorted(tiles)
