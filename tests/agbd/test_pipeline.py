"""AGBD end to end: sample → raw → tile index → per-tile patches/footprints (checks) → dbt → GBDT → evaluation, from
both release formats, on local disk and on S3, with bad inputs, reruns and the HTTPS download path."""

import hashlib
import json
import re
import shutil
from pathlib import Path

import duckdb
import h5py
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dagster_project.datasets.agbd import layout, models, remote, source
from dagster_project.fingerprint import object_sha256
from dagster_project.settings import SAMPLES_DIR

from . import variants

SAMPLE = SAMPLES_DIR / "agbd"
TILES = ["10SDH", "21KWQ", "22NBK", "30NXN", "33TVN", "37MBN", "45RTL", "59GPQ"]


def _evaluations(m, name: str) -> list:
    return [e for e in m.evaluations() if e.check_name == name]


def _checks_by_partition(m, name: str) -> dict:
    return {
        r.dagster_run.tags.get("dagster/partition"): ev
        for r in m.report.results
        for ev in r.get_asset_check_evaluations()
        if ev.check_name == name
    }


def _assert_pipeline_ok(m, tiles_per_split: dict | None = None) -> float:
    assert m.success, m.report.failures
    assert [e.passed for e in _evaluations(m, "agbd_split_coverage")] == [True]
    for name in ("agbd_patches_valid", "agbd_footprints_valid"):
        evs = _evaluations(m, name)
        assert len(evs) == len(TILES) and all(e.passed for e in evs), name
    dbt_checks = [
        e
        for e in m.evaluations()
        if e.asset_key.to_user_string().startswith("agbd_") and "__" in e.check_name
    ]
    assert dbt_checks and all(e.passed for e in dbt_checks)
    (ev,) = m.materializations("agbd_model_evaluation")
    md = ev.metadata
    rmse = md["rmse"].value
    assert md["headline_metric"].value == rmse and md["headline_metric_name"].value == "rmse"
    # the model beats predicting the training mean on the test tiles
    assert rmse < 0.8 * md["baseline_rmse_train_mean"].value
    assert md["mae"].value <= rmse and abs(md["bias"].value) < rmse
    assert (
        "paper, full data" in md["paper_vs_ours"].value
        and "| this run: " in md["paper_vs_ours"].value  # labelled by the source read (test_dataset_cards)
    )
    assert "Closed-EBL" in md["per_biome"].value and "predicted_vs_observed_plot" in md
    with duckdb.connect(m.warehouse_path, read_only=True) as con:
        splits = dict(
            con.execute("select split, count(distinct tile) from agbd_training_set group by 1").fetchall()
        )
        biomes = con.execute("select count(*) from agbd_biome_summary where biome_name = 'Other'").fetchone()[
            0
        ]
    assert splits == (tiles_per_split or {"train": 5, "val": 1, "test": 2}) and biomes == 0
    return rmse


def _copy(tmp_path: Path) -> Path:
    dest = tmp_path / "agbd_src"
    shutil.copytree(SAMPLE, dest, ignore=shutil.ignore_patterns("hf", "README.md"))
    return dest


def _ablation_rmse(warehouse_path: str) -> dict[str, float]:
    with duckdb.connect(warehouse_path, read_only=True) as con:
        df = con.sql("select * from agbd_training_set").pl()
    train, test = df.filter(pl.col("split") == "train"), df.filter(pl.col("split") == "test")
    rmse = {}
    for fs in ("S2", "S2ALOS", "all"):
        model, features = models.fit_gbdt(train, models.BiomassModelConfig(feature_set=fs))
        pred = model.predict(models.feature_matrix(test, features))
        rmse[fs] = models.regression_metrics(test["agbd"].to_numpy(), pred)["rmse"]
    return rmse


def test_end_to_end_hdf5_local_rerun_and_a_broken_tile_later(materialize_dataset, lake_local, tmp_path):
    src = _copy(tmp_path)
    m = materialize_dataset("agbd", lake_local, source=str(src))
    rmse = _assert_pipeline_ok(m)
    assert sorted(m.instance.get_dynamic_partitions("agbd_tiles")) == TILES
    for name in ("data_subset-2019-v4_0-20.h5", layout.SPLITS_FILE):
        assert lake_local.read_bytes(f"raw/agbd/{name}") == (SAMPLE / name).read_bytes()
    assert not lake_local.exists("raw/agbd/hf")  # only the detected release is ingested
    patches = lake_local.read_parquet("tables/agbd_patches/10SDH/data.parquet")
    assert patches.schema == pl.Schema(layout.PATCH_SCHEMA) and patches.height == 36
    # the paper's ablation order: canopy height (`all`) and ALOS help over Sentinel-2 alone
    ablation = _ablation_rmse(m.warehouse_path)
    assert ablation["all"] < ablation["S2"] and ablation["S2ALOS"] < ablation["S2"], ablation

    # the same rows in any order give a byte-identical model
    with duckdb.connect(m.warehouse_path, read_only=True) as con:
        train = models.split_frames(con.sql("select * from agbd_training_set").pl())["train"]
    config = models.BiomassModelConfig()
    fits = [models.fit_gbdt(train.sample(fraction=1.0, shuffle=True, seed=s), config)[0] for s in (1, 2)]
    assert object_sha256(fits[0]) == object_sha256(fits[1])

    # rerun: nothing copied again, same tables, same numbers, the same model bytes and training fingerprint
    manifest = lake_local.read_parquet("raw/agbd/_manifest.parquet")
    footprints = lake_local.read_parquet("tables/agbd_footprints/30NXN/data.parquet")
    model_bytes = lake_local.read_bytes("objects/agbd_biomass_model/object.pkl")
    (fit,) = m.materializations("agbd_biomass_model")
    m2 = materialize_dataset("agbd", lake_local, source=str(src))
    assert _assert_pipeline_ok(m2) == rmse
    (refit,) = m2.materializations("agbd_biomass_model")
    assert lake_local.read_bytes("objects/agbd_biomass_model/object.pkl") == model_bytes
    assert fit.metadata["fingerprint/id"].value == refit.metadata["fingerprint/id"].value
    assert fit.metadata["fingerprint/agbd_training_set/rows"].value == train.height
    assert fit.metadata["fingerprint/raw_files"].value == 6
    (ev1,), (ev2,) = m.materializations("agbd_model_evaluation"), m2.materializations("agbd_model_evaluation")
    assert {k: v.value for k, v in ev1.metadata.items() if k in ("rmse", "mae", "bias", "per_biome")} == {
        k: v.value for k, v in ev2.metadata.items() if k in ("rmse", "mae", "bias", "per_biome")
    }
    assert lake_local.read_parquet("raw/agbd/_manifest.parquet").equals(manifest)
    assert lake_local.read_parquet("tables/agbd_footprints/30NXN/data.parquet").equals(footprints)

    # a tile group loses a dataset at the source: that tile's step fails naming file, tile and rule; the
    # previous good tables and raw copy are kept (the run stops at the failing step: raw copy, tile index, tiles)
    good = lake_local.read_bytes("tables/agbd_patches/37MBN/data.parquet")
    with h5py.File(src / "data_subset-2019-v4_0-20.h5", "r+") as f:
        del f["37MBN/CH/std"]
    m3 = materialize_dataset("agbd", lake_local, source=str(src), upto=["agbd_patches"])
    assert not m3.success
    errors = " ".join(v for k, v in m3.step_failures().items() if k == "agbd_patches")
    assert "data_subset-2019-v4_0-20.h5" in errors and "tile 37MBN" in errors
    assert "rule 'tile group has every dataset'" in errors and "CH/std" in errors
    assert lake_local.read_bytes("tables/agbd_patches/37MBN/data.parquet") == good
    history = lake_local.glob("raw/agbd/_history/*/data_subset-2019-v4_0-20.h5")
    assert len(history) == 1
    assert lake_local.fs.cat_file(history[0]) == (SAMPLE / "data_subset-2019-v4_0-20.h5").read_bytes()


def test_end_to_end_hf_parquet_on_s3_with_a_tile_of_two_splits(materialize_dataset, lake_s3, tmp_path):
    """HF shards where one MGRS square holds rows of the train and the validation shard (overlapping Sentinel-2
    tiles): accepted, every row keeps its shard's split, the square is reported in the tile index metadata."""
    src = variants.mixed_split_hf(tmp_path / "hf")
    m = materialize_dataset("agbd", lake_s3, source=str(src))
    _assert_pipeline_ok(m, {"train": 5, "val": 2, "test": 2})
    (raw,) = m.materializations("agbd_raw_files")
    assert raw.metadata["release_format"].value == "hf"
    (index,) = m.materializations("agbd_tile_index")
    assert index.metadata["mixed_split_tiles"].value == 1
    assert index.metadata["mixed_split_footprints"].value == {
        variants.MIXED_TILE: {"train": 36 - variants.MOVED, "val": variants.MOVED}
    }
    with duckdb.connect(m.warehouse_path, read_only=True) as con:
        per_split = dict(
            con.execute(
                "select split, count(*) from agbd_training_set where tile = ? group by 1",
                [variants.MIXED_TILE],
            ).fetchall()
        )
    assert per_split == {"train": 36 - variants.MOVED, "val": variants.MOVED}
    assert lake_s3.exists("tables/agbd_patches/59GPQ/data.parquet")
    assert lake_s3.exists("objects/agbd_biomass_model/object.pkl")
    shard = "data/test-00000-of-00001.parquet"
    assert lake_s3.read_bytes(f"raw/agbd/{shard}") == (SAMPLE / "hf" / shard).read_bytes()


# --- bad input: each fails its step or check naming file, tile and rule; nothing ingested before is lost -------


def test_bad_band_order_and_negative_biomass_fail_the_blocking_check(
    materialize_dataset, lake_local, tmp_path
):
    src = _copy(tmp_path)
    with h5py.File(src / "data_subset-2020-v4_1-20.h5", "r+") as f:
        f["22NBK/S2_bands"].attrs["order"] = ["B02", "B01", *layout.S2_BANDS[2:]]
        agbd = f["22NBK/GEDI/agbd"][()]
        agbd[4] = -12.5
        f["22NBK/GEDI/agbd"][...] = agbd
    received = (src / "data_subset-2020-v4_1-20.h5").read_bytes()
    m = materialize_dataset("agbd", lake_local, source=str(src))
    assert not m.success
    (bad,) = [e for e in _evaluations(m, "agbd_patches_valid") if not e.passed]
    failures = bad.metadata["failures"].value
    assert "S2 attr 'order' is [B01,B02" in failures and "tile=22NBK" in failures
    assert "source_file=data_subset-2020-v4_1-20.h5" in failures
    assert "ExpectColumnValuesToBeBetween(agbd, min_value=0)" in failures and "source_row=4" in failures
    # the other tiles passed and are kept; the blocking check kept the bad tile out of dbt and the model
    assert sum(e.passed for e in _evaluations(m, "agbd_patches_valid")) == len(TILES) - 1
    assert lake_local.exists("tables/agbd_patches/10SDH/data.parquet")
    assert not lake_local.exists("tables/agbd_footprints/22NBK/data.parquet")
    assert not m.materializations("agbd_biomass_model")
    assert lake_local.read_bytes("raw/agbd/data_subset-2020-v4_1-20.h5") == received


def test_truncated_hdf5_fails_naming_file_and_rule(materialize_dataset, lake_local, tmp_path):
    src = _copy(tmp_path)
    path = src / "data_subset-2020-v4_0-20.h5"
    path.write_bytes(path.read_bytes()[:50_000])
    with pytest.raises(Exception, match="data_subset-2020-v4_0-20.h5: rule 'file is a readable HDF5 file'"):
        materialize_dataset("agbd", lake_local, source=str(src))  # partition discovery reads the source


def test_tile_missing_from_the_split_fails_split_coverage(materialize_dataset, lake_local, tmp_path):
    import pickle

    src = _copy(tmp_path)
    splits = pickle.loads((src / layout.SPLITS_FILE).read_bytes())
    splits["val"] = []
    splits["test"].append("10SDH")  # also listed in train
    (src / layout.SPLITS_FILE).write_bytes(pickle.dumps(splits, protocol=4))
    m = materialize_dataset("agbd", lake_local, source=str(src))
    assert not m.success
    (check,) = _evaluations(m, "agbd_split_coverage")
    assert not check.passed
    failures = check.metadata["failures"].value
    assert "split assignment covers every tile exactly once" in failures
    assert "tile=10SDH" in failures and "tile=45RTL" in failures
    # the two tiles without exactly one split fail their own blocking check too; the others pass
    patch_checks = _checks_by_partition(m, "agbd_patches_valid")
    assert {t for t, e in patch_checks.items() if not e.passed} == {"10SDH", "45RTL"}
    assert "ExpectColumnValuesToNotBeNull(split)" in patch_checks["45RTL"].metadata["failures"].value
    assert not m.materializations("agbd_biomass_model")


def test_parquet_shard_with_another_schema_fails_naming_the_shard(materialize_dataset, lake_local, tmp_path):
    src = tmp_path / "hf"
    shutil.copytree(SAMPLE / "hf", src)
    shard = src / "data" / "train-00000-of-00001.parquet"
    table = pq.read_table(shard)
    pq.write_table(table.set_column(1, "label", table.column("label").cast(pa.float64())), shard)
    with pytest.raises(Exception) as err:
        materialize_dataset("agbd", lake_local, source=str(src))
    msg = str(err.value)
    assert "data/train-00000-of-00001.parquet" in msg and "parquet schema matches prs-eth/AGBD_raw" in msg


# --- remote download path ------------------------------------------------------------------------------------


def _serve_hf(tmp_path: Path) -> tuple[Path, str]:
    """The HF sample under Hub URL paths: resolve/main/<file> plus the tree API listing with LFS sha256."""
    root = tmp_path / "hub"
    repo = root / "datasets" / remote.HF_REPO / "resolve" / "main"
    shutil.copytree(SAMPLE / "hf" / "data", repo / "data")
    tree = [
        {
            "type": "file",
            "path": f"data/{p.name}",
            "size": 134,
            "lfs": {"oid": hashlib.sha256(p.read_bytes()).hexdigest(), "size": p.stat().st_size},
        }
        for p in sorted((repo / "data").glob("*.parquet"))
    ]
    api = root / "api" / "datasets" / remote.HF_REPO / "tree" / "main"
    api.mkdir(parents=True)
    (api / "data").write_text(json.dumps(tree))
    return root, f"datasets/{remote.HF_REPO}/resolve/main"


def test_remote_hf_download_resumes_and_verifies_sha256(
    materialize_dataset, lake_local, http_server, tmp_path, faults
):
    root, path = _serve_hf(tmp_path)
    server = http_server(root, faults(cut_after_bytes=100_000, cut_times=1))
    url = f"{server.url}/{path}"
    m = materialize_dataset("agbd", lake_local, source=url)
    _assert_pipeline_ok(m)
    manifest = lake_local.read_parquet("raw/agbd/_manifest.parquet")
    assert manifest["source_url"].to_list() == [
        f"{url}/data/{s}-00000-of-00001.parquet" for s in ("test", "train", "validation")
    ]
    shard = "data/train-00000-of-00001.parquet"
    assert lake_local.read_bytes(f"raw/agbd/{shard}") == (SAMPLE / "hf" / shard).read_bytes()
    ranged = [r for r in server.requests if r[1].endswith("train-00000-of-00001.parquet") and r[2]]
    # the cut transfer was resumed from where it stopped (open range; discovery reads closed ranges)
    assert any(re.fullmatch(r"bytes=[1-9]\d*-", r[2]) for r in ranged), ranged


def test_remote_hf_download_with_a_wrong_checksum_fails(
    materialize_dataset, lake_local, http_server, tmp_path
):
    root, path = _serve_hf(tmp_path)
    listing = root / "api" / "datasets" / remote.HF_REPO / "tree" / "main" / "data"
    tree = json.loads(listing.read_text())
    tree[0]["lfs"]["oid"] = "0" * 64
    listing.write_text(json.dumps(tree))
    server = http_server(root)
    m = materialize_dataset("agbd", lake_local, source=f"{server.url}/{path}", upto=["agbd_raw_files"])
    assert not m.success
    errors = " ".join(m.step_failures().values())
    assert "sha256 matches" in errors and "test-00000-of-00001.parquet" in errors
    assert not lake_local.exists("raw/agbd/data/test-00000-of-00001.parquet")


def test_hdf5_release_over_plain_https_is_discovered_by_range_reads(http_server):
    """An HTTPS host of the HDF5 release: files from the given list, tiles read from the HDF5 headers only."""
    server = http_server(SAMPLE)
    files = [f"data_subset-{y}-v4_{i}-20.h5" for y in (2019, 2020) for i in (0, 1)]
    files += [layout.SPLITS_FILE, layout.STATISTICS_FILE]
    found = remote.remote_files(server.url, files)
    assert found.fmt == "hdf5" and found.relpaths == files
    assert found.url_for(files[0]) == f"{server.url}/{files[0]}"
    assert remote.discover_tiles(server.url, files) == TILES
    sizes = {p.name: p.stat().st_size for p in SAMPLE.glob("*.h5")}
    fetched = [r for r in server.requests if r[0] == "GET" and r[1].endswith(".h5")]
    assert fetched and all(r[2] for r in fetched)  # only byte ranges, never whole files
    assert len(fetched) < sum(sizes.values()) // remote.DISCOVERY_BLOCK_SIZE
    libdrive = remote.remote_files(remote.HDF5_SHARE_URL)
    assert len(libdrive.relpaths) == 42
    assert (
        libdrive.url_for(layout.SPLITS_FILE) == f"{remote.HDF5_SHARE_URL}?path=%2F&files={layout.SPLITS_FILE}"
    )


def test_patch_arrays_survive_the_lake_round_trip(lake_local):
    index = source.tile_index(lake_local.fs, str(SAMPLE))
    df = source.read_tile(lake_local.fs, str(SAMPLE), "45RTL", source.tile_sources(index, "45RTL"))
    lake_local.write_parquet(df, "t/p.parquet")
    back = lake_local.read_parquet("t/p.parquet")
    assert back.schema == df.schema
    np.testing.assert_array_equal(back["s2_reflectance"].to_numpy(), df["s2_reflectance"].to_numpy())
