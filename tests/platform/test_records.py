"""dagster_project.records: Invenio record JSON, listing over HTTP, verified downloads into raw, safe unpacking."""

import hashlib
import io
import json
import tarfile
import zipfile
from pathlib import Path

import pytest

from dagster_project import records
from dagster_project.errors import ChecksumMismatchError, SourceFormatError
from dagster_project.raw import read_manifest

DS = "recordtest"


def test_record_api_url_from_record_pages():
    assert (
        records.record_api_url("https://zenodo.org/records/10617721")
        == "https://zenodo.org/api/records/10617721"
    )
    assert (
        records.record_api_url("https://rodare.hzdr.de/record/2704/")
        == "https://rodare.hzdr.de/api/records/2704"
    )
    assert (
        records.record_api_url("http://127.0.0.1:9/sub/records/7") == "http://127.0.0.1:9/sub/api/records/7"
    )
    with pytest.raises(ValueError, match="not an Invenio record URL"):
        records.record_api_url("https://zenodo.org/files/x.zip")


def _entry(key, **extra):
    return {"key": key, "size": 3, "checksum": "md5:ABCDEF", "links": {"content": f"http://h/{key}"}, **extra}


@pytest.mark.parametrize(
    "doc",
    [
        {"files": {"enabled": True, "entries": {"b.zip": _entry("b.zip"), "a.csv": _entry("a.csv")}}},  # RDM
        {"files": {"entries": [_entry("b.zip"), _entry("a.csv")]}},  # RDM, entries as a list
        {"files": [_entry("b.zip"), _entry("a.csv")]},  # legacy Invenio
        {"entries": [_entry("b.zip"), _entry("a.csv")]},  # files API
    ],
    ids=["rdm-dict", "rdm-list", "legacy", "files-api"],
)
def test_parse_record_in_every_invenio_shape(doc):
    files = records.parse_record(doc, "rec.json")
    assert files == [
        records.RemoteFile("a.csv", "http://h/a.csv", 3, "abcdef", "md5:ABCDEF"),
        records.RemoteFile("b.zip", "http://h/b.zip", 3, "abcdef", "md5:ABCDEF"),
    ]


def test_parse_record_links_sizes_and_checksums():
    doc = {
        "files": [
            {"filename": "x.tar", "filesize": 9, "links": {"self": "http://h/self"}},
            {"key": "y.zip", "checksum": "sha256:00", "links": {"download": "http://h/dl"}},
        ]
    }
    x, y = records.parse_record(doc, "rec.json")
    assert (x.key, x.url, x.size, x.md5, x.checksum) == ("x.tar", "http://h/self", 9, None, None)
    assert (y.key, y.url, y.size, y.md5, y.checksum) == ("y.zip", "http://h/dl", None, None, "sha256:00")
    # no link: an error, unless the files API base is known
    bare = {"files": [{"key": "z.csv"}]}
    with pytest.raises(SourceFormatError, match="each record file has a key and a link") as e:
        records.parse_record(bare, "rec.json")
    assert (e.value.file, e.value.row) == ("rec.json", 0)
    (z,) = records.parse_record(bare, "http://h/api/records/1", api_base="http://h/api/records/1/")
    assert z.url == "http://h/api/records/1/files/z.csv/content"
    with pytest.raises(SourceFormatError, match="each record file has a key") as e:
        records.parse_record({"files": [_entry("a"), {"links": {"self": "u"}}]}, "rec.json", api_base="b")
    assert e.value.row == 1
    assert records.parse_record({"files": {"enabled": False}}, "rec.json") == []


def test_parse_record_files_refuses_non_json_and_empty_records():
    (f,) = records.parse_record_files(json.dumps({"files": [_entry("a.zip")]}).encode(), "rec.json")
    assert f.md5 == "abcdef"
    with pytest.raises(SourceFormatError, match="record metadata is JSON") as e:
        records.parse_record_files("<html>", "rec.json")
    assert e.value.file == "rec.json"
    with pytest.raises(SourceFormatError, match="record lists its files"):
        records.parse_record_files("{}", "rec.json")


# ------------------------------------------------------------------------------------------ over HTTP


def _noise(n_blocks: int, seed: int = 0) -> bytes:
    """Deterministic bytes that do not compress (so an archive is as large as its content)."""
    return b"".join(hashlib.sha256(f"{seed}:{i}".encode()).digest() for i in range(n_blocks))


def _zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def _publish(site: Path, base_url: str, files: dict[str, bytes], md5: dict[str, str] | None = None) -> str:
    """A record host: files under /records/1/files/, the RDM-shaped JSON at /api/records/1. Returns the page URL."""
    (site / "records/1/files").mkdir(parents=True, exist_ok=True)
    entries = {}
    for key, data in files.items():
        (site / "records/1/files" / key).write_bytes(data)
        entries[key] = {
            "key": key,
            "size": len(data),
            "checksum": f"md5:{(md5 or {}).get(key) or hashlib.md5(data).hexdigest()}",
            "links": {"content": f"{base_url}/records/1/files/{key}"},
        }
    (site / "api/records").mkdir(parents=True, exist_ok=True)
    (site / "api/records/1").write_text(json.dumps({"id": 1, "files": {"entries": entries}}))
    return f"{base_url}/records/1"


@pytest.fixture
def site(tmp_path):
    (tmp_path / "site").mkdir()
    return tmp_path / "site"


def test_list_record_files_fetches_the_json_fresh(http_server, cdp_env, site):
    server = http_server(site)
    page = _publish(site, server.url, {"a.zip": b"zip!", "b.csv": b"x,y\n"})
    api = records.record_api_url(page)
    stale = records.cache_path(DS, "_record.json.part")
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b'{"files": [')  # an interrupted earlier fetch is not resumed
    files = records.list_record_files(api, DS)
    assert [(f.key, f.size, f.md5) for f in files] == [
        ("a.zip", 4, hashlib.md5(b"zip!").hexdigest()),
        ("b.csv", 4, hashlib.md5(b"x,y\n").hexdigest()),
    ]
    assert ("GET", "/api/records/1", None) in server.requests
    (site / "api/records/1").write_text("<html>maintenance</html>")
    with pytest.raises(SourceFormatError, match="record metadata is JSON") as e:
        records.list_record_files(api, DS)
    assert e.value.file == api


def test_remote_zip_names_reads_only_byte_ranges(http_server, site):
    members = {f"top/part{i}.bin": _noise(10_000, seed=i) for i in range(4)}  # 4 x 320 kB
    (site / "big.zip").write_bytes(_zip_bytes(members))
    server = http_server(site)
    assert records.remote_zip_names(f"{server.url}/big.zip") == list(members)
    gets = [r for r in server.requests if r[0] == "GET" and r[1] == "/big.zip"]
    assert gets and all(r[2] for r in gets)


def test_download_record_resumes_verifies_md5_and_lands_in_raw(
    http_server, faults, cdp_env, lake_local, site
):
    archive = _zip_bytes({"top/data.bin": _noise(5_000)})  # 160 kB
    server = http_server(site, faults(cut_after_bytes=100_000, cut_times=1))
    page = _publish(site, server.url, {"data.zip": archive, "notes.txt": b"hello"})
    files = records.list_record_files(records.record_api_url(page), DS)
    said: list[str] = []
    manifest, got = records.download_record(lake_local, DS, page, files, prefix="_arch", log_fn=said.append)

    assert [(d.rel, d.file.key) for d in got] == [
        ("_arch/data.zip", "data.zip"),
        ("_arch/notes.txt", "notes.txt"),
    ]
    assert got[0].local == records.cache_path(DS, "_arch/data.zip") and got[0].local.read_bytes() == archive
    assert lake_local.read_bytes(f"raw/{DS}/_arch/data.zip") == archive
    assert manifest["relpath"].to_list() == ["_arch/data.zip", "_arch/notes.txt"]
    row = manifest.row(0, named=True)
    assert row["sha256"] == hashlib.sha256(archive).hexdigest() and row["size"] == len(archive)
    assert row["source_url"] == f"{server.url}/records/1/files/data.zip"
    assert read_manifest(lake_local, DS).equals(manifest)
    ranges = [r[2] for r in server.requests if r[1] == "/records/1/files/data.zip"]
    assert ranges[0] is None and ranges[1].startswith("bytes=") and ranges[1].endswith("-")
    assert 0 < int(ranges[1][6:-1]) <= 100_000  # cut short, then resumed from the bytes already on disk
    assert said  # progress went to the given logger

    # Without reuse every file is fetched again; with it, a file whose published md5 still matches is not.
    server.requests.clear()
    records.download_record(lake_local, DS, page, files, prefix="_arch")
    assert len([r for r in server.requests if r[1].startswith("/records/1/files/")]) == 2
    server.requests.clear()
    got[0].local.unlink()  # the raw copy refills the cache
    again, got2 = records.download_record(lake_local, DS, page, files, prefix="_arch", reuse_unchanged=True)
    assert not [r for r in server.requests if r[1].startswith("/records/1/files/")]
    assert got2[0].local.read_bytes() == archive and again.equals(manifest)


def test_download_record_refuses_a_wrong_md5_before_raw(http_server, cdp_env, lake_local, site):
    server = http_server(site)
    page = _publish(site, server.url, {"data.zip": b"payload"}, md5={"data.zip": "0" * 32})
    files = records.list_record_files(records.record_api_url(page), DS)
    with pytest.raises(ChecksumMismatchError, match="rule 'md5 matches' failed") as e:
        records.download_record(lake_local, DS, page, files, reuse_unchanged=True)
    assert e.value.url.endswith("/records/1/files/data.zip") and e.value.expected == "0" * 32
    assert not lake_local.exists(f"raw/{DS}/_archives/data.zip")
    assert not records.cache_path(DS, "_archives/data.zip").exists()


# ------------------------------------------------------------------------------------------ archives


def _tar_bytes(members: dict[str, bytes], symlink: tuple[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
        if symlink:
            info = tarfile.TarInfo(symlink[0])
            info.type, info.linkname = tarfile.SYMTYPE, symlink[1]
            t.addfile(info)
    return buf.getvalue()


@pytest.mark.parametrize("kind", ["zip", "tar"])
def test_unpack_archive_finds_root_resumes_and_refuses_escapes(tmp_path, kind):
    members = {"Top/": b"", "Top/a/x.txt": b"xx", "Top/b.csv": b"1,2\n", "README": b"r"}
    if kind == "zip":
        data = _zip_bytes(members)
    else:
        data = _tar_bytes(
            {k: v for k, v in members.items() if not k.endswith("/")}, symlink=("Top/l", "/etc")
        )
    archive = tmp_path / f"a.{kind}"
    archive.write_bytes(data)
    seen: list[list[str]] = []

    def root_of(names):
        seen.append(sorted(names))
        return "Top/"

    out = tmp_path / "out"
    root = records.unpack_archive(archive, out, root_of=root_of)
    assert root == str((out / "Top").resolve())
    assert seen == [["README", "Top/a/x.txt", "Top/b.csv"]]  # regular files only (no dirs, no links)
    assert (Path(root) / "a/x.txt").read_bytes() == b"xx" and (out / "README").read_bytes() == b"r"
    assert not (out / "Top/l").exists() and not list(out.rglob("*.part"))
    before = (Path(root) / "b.csv").stat().st_mtime_ns
    assert records.unpack_archive(archive, out) == str(out.resolve())  # rerun: nothing rewritten
    assert (Path(root) / "b.csv").stat().st_mtime_ns == before

    evil = tmp_path / f"evil.{kind}"
    bad = {"ok.txt": b"1", "../outside.txt": b"x"}
    evil.write_bytes(_zip_bytes(bad) if kind == "zip" else _tar_bytes(bad))
    with pytest.raises(SourceFormatError, match="archive members stay inside the target folder") as e:
        records.unpack_archive(evil, tmp_path / "out2")
    assert e.value.file == str(evil) and e.value.detail == "../outside.txt"
    assert not (tmp_path / "outside.txt").exists()


def test_unpack_archive_root_of_refuses_before_writing_and_non_archives(tmp_path):
    archive = tmp_path / "a.zip"
    archive.write_bytes(_zip_bytes({"x.txt": b"1"}))

    def refuse(names):
        raise SourceFormatError("<archive>", "archive holds the layout")

    with pytest.raises(SourceFormatError, match="archive holds the layout"):
        records.unpack_archive(archive, tmp_path / "out", root_of=refuse)
    assert not (tmp_path / "out").exists()
    plain = tmp_path / "plain.bin"
    plain.write_bytes(b"not an archive")
    with pytest.raises(SourceFormatError, match="download is a zip or tar archive"):
        records.unpack_archive(plain, tmp_path / "out")
