"""Lake storage, raw ingestion and downloads, on local disk, on S3 (moto) and over HTTP."""

import hashlib

import polars as pl
import pytest

from dagster_project.download import fetch_url
from dagster_project.errors import ChecksumMismatchError
from dagster_project.raw import ingest_raw, read_manifest


@pytest.mark.parametrize("lake_fixture", ["lake_local", "lake_s3"])
def test_atomic_write_leaves_no_partial_file(lake_fixture, request):
    lake = request.getfixturevalue(lake_fixture)
    lake.write_parquet(pl.DataFrame({"a": [1, 2]}), "t/data.parquet")
    with pytest.raises(RuntimeError):
        with lake.atomic_open("t/data.parquet") as f:
            f.write(b"half a file")
            raise RuntimeError("killed mid-write")
    # the previous version is intact and no temporary file is left behind
    assert lake.read_parquet("t/data.parquet")["a"].to_list() == [1, 2]
    assert [p.rsplit("/", 1)[1] for p in lake.glob("t/*")] == ["data.parquet"]
    with pytest.raises(RuntimeError):
        with lake.atomic_open("t/new.parquet") as f:
            f.write(b"x" * 100)
            raise RuntimeError("killed")
    assert not lake.exists("t/new.parquet")


@pytest.mark.parametrize("lake_fixture", ["lake_local", "lake_s3"])
def test_parquet_stream_writes_one_file_a_row_group_per_table_atomically(lake_fixture, request):
    import pyarrow as pa
    import pyarrow.parquet as pq

    lake = request.getfixturevalue(lake_fixture)
    frames = [pl.DataFrame({"a": list(range(k, k + n)), "s": ["x"] * n}) for k, n in ((0, 3), (3, 1), (4, 2))]
    for overlap in (True, False):
        assert lake.write_parquet_stream("t/data.parquet", iter(frames), overlap=overlap) == 6
        assert lake.read_parquet("t/data.parquet").equals(pl.concat(frames))
        with lake.fs.open(lake.path("t/data.parquet"), "rb") as f:
            meta = pq.ParquetFile(f).metadata
        assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [3, 1, 2]

    def killed():
        yield frames[0].to_arrow()  # pyarrow tables are accepted as well
        raise RuntimeError("killed mid-stream")

    with pytest.raises(RuntimeError, match="killed mid-stream"):
        lake.write_parquet_stream("t/data.parquet", killed())
    # the previous version is intact and no temporary file is left behind
    assert lake.read_parquet("t/data.parquet").equals(pl.concat(frames))
    assert [p.rsplit("/", 1)[1] for p in lake.glob("t/*")] == ["data.parquet"]
    # nothing to write: an empty file of the given schema, and without a schema nothing at all
    schema = pa.schema([("a", pa.int64())])
    assert lake.write_parquet_stream("t/empty.parquet", [], schema=schema) == 0
    assert lake.read_parquet("t/empty.parquet").schema == pl.Schema({"a": pl.Int64()})
    with pytest.raises(ValueError, match="no schema"):
        lake.write_parquet_stream("t/none.parquet", [])
    assert not lake.exists("t/none.parquet")


@pytest.mark.parametrize("lake_fixture", ["lake_local", "lake_s3"])
def test_raw_ingest_is_idempotent_and_keeps_history(lake_fixture, request, tmp_path):
    lake = request.getfixturevalue(lake_fixture)
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.csv").write_text("x\n1\n")
    (src / "sub" / "b.bin").write_bytes(bytes(range(256)))
    first = ingest_raw(lake, "demo", str(src))
    assert first["relpath"].to_list() == ["a.csv", "sub/b.bin"]
    assert first.filter(pl.col("relpath") == "a.csv")["sha256"][0] == hashlib.sha256(b"x\n1\n").hexdigest()
    assert lake.read_bytes("raw/demo/sub/b.bin") == bytes(range(256))

    again = ingest_raw(lake, "demo", str(src))
    assert again.equals(first)  # nothing re-copied: same retrieval times

    (src / "a.csv").write_text("x\n2\n")
    third = ingest_raw(lake, "demo", str(src))
    assert lake.read_bytes("raw/demo/a.csv") == b"x\n2\n"
    history = lake.glob("raw/demo/_history/*/a.csv")
    assert len(history) == 1 and lake.fs.cat(history[0]) == b"x\n1\n"
    assert read_manifest(lake, "demo").equals(third)


def test_download_resumes_after_interrupted_transfer(http_server, faults, tmp_path):
    payload = bytes(range(256)) * 4096  # 1 MiB
    (tmp_path / "srv").mkdir()
    (tmp_path / "srv" / "file.bin").write_bytes(payload)
    server = http_server(tmp_path / "srv", faults(cut_after_bytes=300_000, cut_times=1))
    digest, size = fetch_url(
        f"{server.url}/file.bin",
        tmp_path / "out" / "file.bin",
        expected_sha256=hashlib.sha256(payload).hexdigest(),
    )
    assert (tmp_path / "out" / "file.bin").read_bytes() == payload and size == len(payload)
    ranges = [r for (_m, _p, r) in server.requests]
    assert ranges[0] is None and ranges[1].startswith("bytes=")  # the second request resumed, not restarted
    resumed_at = int(ranges[1].removeprefix("bytes=").rstrip("-"))
    assert 0 < resumed_at <= 300_000


def test_download_rejects_checksum_mismatch(http_server, tmp_path):
    (tmp_path / "srv").mkdir()
    (tmp_path / "srv" / "f.csv").write_text("a,b\n1,2\n")
    server = http_server(tmp_path / "srv")
    dest = tmp_path / "out" / "f.csv"
    with pytest.raises(ChecksumMismatchError, match="sha256"):
        fetch_url(f"{server.url}/f.csv", dest, expected_sha256="0" * 64)
    assert not dest.exists() and not dest.with_name("f.csv.part").exists()


def test_raw_ingest_over_http_records_source_and_checksum(http_server, lake_local, tmp_path, cdp_env):
    (tmp_path / "srv" / "data").mkdir(parents=True)
    (tmp_path / "srv" / "data" / "x.csv").write_text("a\n1\n")
    server = http_server(tmp_path / "srv")
    manifest = ingest_raw(lake_local, "demo", f"{server.url}/data", ["x.csv"])
    row = manifest.row(0, named=True)
    assert row["source_url"] == f"{server.url}/data/x.csv"
    assert row["sha256"] == hashlib.sha256(b"a\n1\n").hexdigest()
    assert lake_local.read_bytes("raw/demo/x.csv") == b"a\n1\n"
    with pytest.raises(ValueError, match="explicit file list"):
        ingest_raw(lake_local, "demo", f"{server.url}/data")
