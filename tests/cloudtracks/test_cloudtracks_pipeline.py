"""CloudTracks end to end: sample → raw → image/instance tables + checks → masks, COCO → dbt → pixel model →
evaluation, on local disk and on S3; each bad input the issue lists; and the Zenodo HTTPS path."""

import dataclasses
import hashlib
import io
import json
import shutil
import zipfile
from pathlib import Path

import duckdb
import numpy as np
import pytest

from dagster_project.datasets.cloudtracks import pixels
from dagster_project.datasets.cloudtracks import source as S
from dagster_project.datasets.cloudtracks.assets import list_remote
from dagster_project.settings import SAMPLES_DIR

SAMPLE = SAMPLES_DIR / "cloudtracks"
DS = "cloudtracks"
pytestmark = pytest.mark.slow


def _assert_pipeline_ok(m) -> dict:
    assert m.success, m.report.failures
    evals = {e.check_name: e for e in m.evaluations()}
    for name in ("cloudtracks_images_valid", "cloudtracks_instances_valid", "cloudtracks_masks_consistent"):
        assert evals[name].passed, evals[name].metadata.get("failures")
    dbt_checks = [e for e in m.evaluations() if "cloudtracks" in e.asset_key.to_user_string()]
    assert len(dbt_checks) > 60 and all(e.passed for e in dbt_checks)
    (ev,) = m.materializations("cloudtracks_model_evaluation")
    md = {k: v.value for k, v in ev.metadata.items()}
    baselines = md["baselines"]
    # Real signal: the model beats the brightness threshold and the empty prediction by a wide margin.
    assert md["iou_positive_images"] > 0.5
    assert md["iou_positive_images"] > baselines["brightness_threshold"]["iou_positive_images"] + 0.2
    assert baselines["all_background"]["iou_positive_images"] == 0
    assert md["count_mae"] < baselines["all_background"]["count_mae"]
    p, r = md["precision"], md["recall"]
    assert md["f1"] == pytest.approx(2 * p * r / (p + r))
    assert (
        md["headline_metric_name"] == "iou_positive_images"
        and md["headline_metric"] == md["iou_positive_images"]
    )
    assert "paper, full data" in md["paper_vs_ours"] and "| this run: " in md["paper_vs_ours"]
    assert (
        "0.6129" in md["paper_vs_ours"] and "61.29 is comparable to `iou_positive_images`" in md["iou_note"]
    )
    assert md["test_overlays"].startswith("![test_overlays](data:image/png;base64,")
    with duckdb.connect(m.warehouse_path, read_only=True) as con:
        rows = con.execute("select split, n_images, n_tracks from cloudtracks_image_stats").fetchall()
        n_train = con.execute(
            "select count(*) from cloudtracks_training_set where split = 'train'"
        ).fetchall()[0][0]
    stats = {r[0]: r[1:] for r in rows}
    assert {k: v[0] for k, v in stats.items()} == {"train": 24, "val": 6, "test": 10} and n_train == 24
    coco = json.loads(m.lake.read_bytes("exports/cloudtracks/coco/test_annotation_coco.json"))
    assert coco["categories"] == [{"id": 0, "name": "shiptrack"}]
    assert len(coco["images"]) == 10 and len(coco["annotations"]) == stats["test"][1]
    ann = coco["annotations"][0]
    xs, ys = ann["segmentation"][0][0::2], ann["segmentation"][0][1::2]
    assert ann["bbox"] == pytest.approx([min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)])
    return md


def test_end_to_end_local_and_rerun_is_idempotent(materialize_dataset, lake_local):
    m = materialize_dataset(DS, lake_local, source=str(SAMPLE))
    md = _assert_pipeline_ok(m)
    masks = lake_local.read_parquet("tables/cloudtracks_masks/data.parquet")
    shipped = next(SAMPLE.glob("train/masks/*.npy"))
    row = masks.filter(masks["image_file"] == f"train/images/{shipped.stem}.png").row(0, named=True)
    assert np.array_equal(pixels.png_to_mask(row["semantic_png"]), np.load(shipped))
    assert pixels.png_to_mask(row["instance_png"]).max() == row["instance_count"]
    assert lake_local.read_bytes(f"raw/{DS}/test.csv") == (SAMPLE / "test.csv").read_bytes()
    manifest = lake_local.read_parquet(f"raw/{DS}/_manifest.parquet")
    assert manifest.height == sum(1 for p in SAMPLE.rglob("*") if p.is_file() and p.name != "README.md")
    coco = lake_local.read_bytes("exports/cloudtracks/coco/train_annotation_coco.json")
    model_bytes = lake_local.read_bytes("objects/cloudtracks_segmentation_model/object.pkl")
    (fit,) = m.materializations("cloudtracks_segmentation_model")
    fingerprint = {k: v.value for k, v in fit.metadata.items() if k.startswith("fingerprint/")}
    assert (
        fingerprint["fingerprint/train_images/rows"] == 24
        and fingerprint["fingerprint/tune_images/rows"] == 6
    )
    assert fingerprint["fingerprint/raw_files"] == manifest.height
    m2 = materialize_dataset(DS, lake_local, source=str(SAMPLE))
    md2 = _assert_pipeline_ok(m2)
    # Deterministic training: the same data gives the same bytes, fingerprint and metrics.
    assert lake_local.read_bytes("objects/cloudtracks_segmentation_model/object.pkl") == model_bytes
    (fit2,) = m2.materializations("cloudtracks_segmentation_model")
    assert {k: v.value for k, v in fit2.metadata.items() if k.startswith("fingerprint/")} == fingerprint
    metrics = [f.name for f in dataclasses.fields(pixels.Scores)]
    assert {k: md2[k] for k in metrics} == {k: md[k] for k in metrics}
    assert lake_local.read_parquet(f"raw/{DS}/_manifest.parquet").equals(manifest)  # nothing copied again
    assert lake_local.read_bytes("exports/cloudtracks/coco/train_annotation_coco.json") == coco


def test_end_to_end_on_s3(materialize_dataset, lake_s3):
    m = materialize_dataset(DS, lake_s3, source=str(SAMPLE))
    _assert_pipeline_ok(m)
    assert lake_s3.exists("tables/cloudtracks_images/data.parquet")
    assert lake_s3.exists("objects/cloudtracks_segmentation_model/object.pkl")
    png = next(SAMPLE.glob("val/images/*.png"))
    assert lake_s3.read_bytes(f"raw/{DS}/val/images/{png.name}") == png.read_bytes()


# ------------------------------------------------------------------------------------------ published variants


def test_published_variants_pass_end_to_end(materialize_dataset, lake_local, tmp_path):
    """Instance-id masks, a mask that disagrees with its polygons (warned, not blocked), LabelMe imagePath as
    a bare name and as an absolute path, and a train.csv with the older column names and absolute paths."""
    src = tmp_path / "release" / "CloudTracks"
    shutil.copytree(SAMPLE, src)
    # train.csv: the authors' older columns and absolute paths from their machine
    lines = (src / "train.csv").read_text().splitlines()
    old_root = "/deep/group/aicc-bootcamp/cloud-pollution/data/COCO_format"
    rows = [
        ",".join([f"{old_root}/{c}" if c and i < 3 else c for i, c in enumerate(line.split(","))])
        for line in lines[1:]
    ]
    (src / "train.csv").write_text(
        "\n".join(["images_only,jsons_only,masks_updated,contains_shiptrack", *rows]) + "\n"
    )
    # every shipped train mask becomes an instance-id mask (ids 3, 6, 9, ...), from the JSON's own shapes
    converted = 0
    for mf in sorted(src.glob("train/masks/*.npy")):
        doc = json.loads((src / "train" / "jsons" / f"{mf.stem}.json").read_text())
        if not doc["shapes"]:
            continue
        ann = S.parse_labelme(json.dumps(doc).encode(), mf.name)
        _, inst = S.rasterise([S.shape_polygon(sh) for sh in ann.shapes], 128, 128)
        np.save(mf, (inst.astype(np.int32) * 3))
        converted += 1
    # imagePath: a bare name in val, an absolute path in test
    for jf in src.glob("val/jsons/*.json"):
        doc = json.loads(jf.read_text())
        doc["imagePath"] = f"{jf.stem}.png"
        jf.write_text(json.dumps(doc))
    for jf in src.glob("test/jsons/*.json"):
        doc = json.loads(jf.read_text())
        doc["imagePath"] = f"C:\\Users\\annotator\\shiptracks\\test\\images\\{jf.stem}.png"
        jf.write_text(json.dumps(doc))
    # one val mask disagrees with its polygons (moved by 40 px): the mask is the truth, the IoU is a measurement
    moved = next(p for p in sorted(src.glob("val/masks/*.npy")) if np.load(p).any())
    np.save(moved, np.roll(np.load(moved), 40, axis=0))

    m = materialize_dataset(DS, lake_local, source=str(tmp_path / "release"))
    assert m.success, m.report.failures
    evals = {e.check_name: e for e in m.evaluations()}
    assert evals["cloudtracks_images_valid"].passed and evals["cloudtracks_masks_consistent"].passed
    warn = evals["cloudtracks_mask_agreement"]
    assert not warn.passed and warn.severity.value == "WARN"
    assert moved.name in warn.metadata["failures"].value
    assert m.materializations("cloudtracks_segmentation_model") and m.materializations(
        "cloudtracks_model_evaluation"
    )
    (images_mat,) = m.materializations("cloudtracks_images")
    shipped = len(list(SAMPLE.glob("*/masks/*.npy")))
    assert images_mat.metadata["mask_kinds"].value == {
        "binary": shipped - converted,
        "instance_ids": converted,
    }
    assert images_mat.metadata["paths_found_by"].value["json_image"] == {
        "absolute": 10,
        "images_folder": 6,
        "relative_to_json": 24,
    }
    masks = lake_local.read_parquet("tables/cloudtracks_masks/data.parquet")
    by_ids = masks.filter(masks["instance_source"] == "npy_instance_ids")
    assert by_ids.height == converted
    for r in by_ids.iter_rows(named=True):
        ids = np.unique(pixels.png_to_mask(r["instance_png"]))
        assert list(ids) == [3 * k for k in range(r["instance_count"] + 1)]  # ids kept as shipped
    moved_row = masks.filter(masks["image_file"] == f"val/images/{moved.stem}.png").row(0, named=True)
    assert np.array_equal(
        pixels.png_to_mask(moved_row["semantic_png"]), np.load(moved)
    )  # the mask is the truth


# ------------------------------------------------------------------------------------------ bad input


def _copy(tmp_path: Path) -> Path:
    bad = tmp_path / "bad_source"
    shutil.copytree(SAMPLE, bad)
    return bad


def _csv_row(src: Path, split: str, row: int) -> list[str]:
    return (src / f"{split}.csv").read_text().splitlines()[row].split(",")


def _failed_check(m, name: str) -> str:
    check = next(e for e in m.evaluations() if e.check_name == name)
    assert not check.passed
    return check.metadata["failures"].value


def test_bad_annotations_fail_the_checks_naming_file_row_and_rule(materialize_dataset, lake_local, tmp_path):
    src = _copy(tmp_path)
    # 1. a JSON whose image is missing (test.csv row 3)
    image_rel, json_rel, _, _ = _csv_row(src, "test", 3)
    (src / image_rel).unlink()
    # 2. out-of-bounds coordinates (train.csv row 2, shape 0)
    oob_json = _csv_row(src, "train", 2)[1]
    doc = json.loads((src / oob_json).read_text())
    doc["shapes"][0]["points"][1] = [150.0, 20.0]
    (src / oob_json).write_text(json.dumps(doc, indent=2))
    # 3. a mask of another shape (the first shipped mask of val)
    mask_rel = next(
        r.split(",")[2] for r in (src / "val.csv").read_text().splitlines()[1:] if r.split(",")[2]
    )
    buf = io.BytesIO()
    np.save(buf, np.zeros((100, 128), np.uint8))
    (src / mask_rel).write_bytes(buf.getvalue())
    received = (src / oob_json).read_bytes()

    m = materialize_dataset(DS, lake_local, source=str(src))
    assert not m.success
    images = _failed_check(m, "cloudtracks_images_valid")
    assert "image_exists" in images and "json_image_exists" in images
    assert "source_file=test.csv" in images and "source_row=3" in images and json_rel in images
    assert "mask_shape_matches" in images and mask_rel in images
    instances = _failed_check(m, "cloudtracks_instances_valid")
    assert "out_of_bounds_px" in instances and oob_json in instances and "source_row=0" in instances
    # Blocking checks stop everything downstream: no masks, no model on bad data.
    assert not m.materializations("cloudtracks_masks") and not m.materializations(
        "cloudtracks_segmentation_model"
    )
    assert lake_local.read_bytes(f"raw/{DS}/{oob_json}") == received  # raw copy is what was received

    # Fixing the source and rerunning recovers; the bad copy is kept in the raw history, nothing is lost.
    shutil.rmtree(src)
    shutil.copytree(SAMPLE, src)
    m2 = materialize_dataset(DS, lake_local, source=str(src))
    assert m2.success, m2.report.failures
    history = [p for p in lake_local.glob(f"raw/{DS}/_history/**/*.json")]
    assert any(p.endswith(oob_json) for p in history)


@pytest.mark.parametrize("case", ["polygon_with_2_points", "truncated_png"])
def test_unreadable_input_fails_the_step_naming_file_and_rule(
    materialize_dataset, lake_local, tmp_path, case
):
    src = _copy(tmp_path)
    if case == "polygon_with_2_points":
        # the first JSON with polygon shapes (every third image of the sample)
        target = next(p for p in sorted(src.glob("train/jsons/*.json")) if '"polygon"' in p.read_text())
        doc = json.loads(target.read_text())
        doc["shapes"][1]["points"] = doc["shapes"][1]["points"][:2]
        target.write_text(json.dumps(doc))
        expected = [f"train/jsons/{target.name}", "row 1", "polygon has at least 3 points"]
    else:
        target = sorted(src.glob("test/images/*.png"))[2]
        target.write_bytes(target.read_bytes()[:-300])
        expected = [f"test/images/{target.name}", "image decodes completely"]
    received = target.read_bytes()
    # only as far as the tables that read the files (everything asserted is there or upstream)
    m = materialize_dataset(
        DS, lake_local, source=str(src), upto=["cloudtracks_images", "cloudtracks_instances"]
    )
    assert not m.success
    failure = "\n".join(m.step_failures().values())
    for text in expected:
        assert text in failure
    rel = target.relative_to(src).as_posix()
    assert lake_local.read_bytes(f"raw/{DS}/{rel}") == received
    assert not m.materializations("cloudtracks_images")


# ------------------------------------------------------------------------------------------ Zenodo over HTTPS


def _zenodo_site(tmp_path: Path) -> Path:
    """A folder served like Zenodo: the record JSON (files API) and the archive at its content link."""
    site = tmp_path / "zenodo"
    archive = site / "files" / "CloudTracks.zip"
    archive.parent.mkdir(parents=True)
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        for p in sorted(SAMPLE.rglob("*")):
            if p.is_file():
                z.write(p, f"CloudTracks/{p.relative_to(SAMPLE).as_posix()}")
    return archive


def _serve_record(http_server, tmp_path, md5: str | None = None, faults=None):
    archive = _zenodo_site(tmp_path)
    site = archive.parent.parent
    server = http_server(site, faults)
    digest = md5 or hashlib.md5(archive.read_bytes()).hexdigest()
    record = {
        "id": 10042922,
        "files": [
            {
                "key": "CloudTracks.zip",
                "size": archive.stat().st_size,
                "checksum": f"md5:{digest}",
                "links": {"self": f"{server.url}/files/CloudTracks.zip"},
            }
        ],
    }
    (site / "api" / "records").mkdir(parents=True)
    (site / "api" / "records" / "10042922").write_text(json.dumps(record))
    return f"{server.url}/api/records/10042922", archive, server


def test_zenodo_record_download_resumes_and_unpacks(
    materialize_dataset, lake_local, http_server, tmp_path, faults
):
    # The transfer is cut after 1.2 MB; the retry asks only for the bytes not yet on disk.
    url, archive, server = _serve_record(http_server, tmp_path, faults=faults(cut_after_bytes=1_200_000))
    assert archive.stat().st_size > 1_200_000
    m = materialize_dataset(DS, lake_local, source=url)
    _assert_pipeline_ok(m)
    ranges = [r for method, path, r in server.requests if path == "/files/CloudTracks.zip"]
    assert ranges[0] is None and ranges[1].startswith("bytes=") and ranges[1].endswith("-")
    assert 0 < int(ranges[1][6:-1]) <= 1_200_000
    manifest = lake_local.read_parquet(f"raw/{DS}/_manifest.parquet")
    row = manifest.filter(manifest["relpath"] == "_archives/CloudTracks.zip").row(0, named=True)
    assert row["source_url"].endswith("/files/CloudTracks.zip")
    assert row["sha256"] == hashlib.sha256(archive.read_bytes()).hexdigest()
    # the source sensor's fingerprints for this HTTP source come from the same record
    assert list_remote(url) == {"_archives/CloudTracks.zip": hashlib.md5(archive.read_bytes()).hexdigest()}
    assert lake_local.read_bytes(f"raw/{DS}/_archives/CloudTracks.zip") == archive.read_bytes()
    assert lake_local.read_bytes(f"raw/{DS}/CloudTracks/test.csv") == (SAMPLE / "test.csv").read_bytes()


def test_zenodo_md5_mismatch_keeps_the_file_out_of_raw(
    materialize_dataset, lake_local, http_server, tmp_path
):
    url, _, _ = _serve_record(http_server, tmp_path, md5="0" * 32)
    m = materialize_dataset(DS, lake_local, source=url, upto=[f"{DS}_raw_files"])  # the step that fails
    assert not m.success
    failure = "\n".join(m.step_failures().values())
    assert "rule 'md5 matches' failed" in failure and "CloudTracks.zip" in failure
    assert not lake_local.exists(f"raw/{DS}/_archives/CloudTracks.zip")
