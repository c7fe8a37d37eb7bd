"""CloudTracks readers, geometry and the sample's format fidelity (no Dagster)."""

import io
import json
import shutil
from pathlib import Path

import fsspec
import numpy as np
import pytest
from PIL import Image

from dagster_project.datasets.cloudtracks import source as S
from dagster_project.datasets.cloudtracks.sample import write_sample
from dagster_project.errors import SourceFormatError

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "assets" / "cloudtracks"
LOCAL = fsspec.filesystem("file")


def _files(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "README.md"
    }


def _distance_to_polyline(xy: np.ndarray, pts: np.ndarray) -> np.ndarray:
    best = np.full(len(xy), np.inf)
    for a, b in zip(pts[:-1], pts[1:], strict=True):
        ab = b - a
        t = np.clip(((xy - a) @ ab) / (ab @ ab), 0, 1)
        best = np.minimum(best, np.linalg.norm(xy - (a + t[:, None] * ab), axis=1))
    return best


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    dest = tmp_path / "cloudtracks"
    shutil.copytree(SAMPLE, dest)
    return dest


# ----------------------------------------------------------------------------------------------------
# The sample


def test_committed_sample_is_what_write_sample_produces(tmp_path):
    write_sample(tmp_path / "a")
    assert _files(tmp_path / "a") == _files(SAMPLE), "assets/cloudtracks is stale: regenerate it (README.md)"


def test_sample_is_deterministic_and_scales(tmp_path):
    write_sample(tmp_path / "a", scale=2, seed=3)
    write_sample(tmp_path / "b", scale=2, seed=3)
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    images, _ = S.read_layout(LOCAL, str(tmp_path / "a"))
    assert images.group_by("split").len().sort("split").rows() == [("test", 20), ("train", 48), ("val", 12)]


def test_sample_layout_matches_the_authors_format():
    for split in S.SPLITS:
        header = (SAMPLE / f"{split}.csv").read_text().splitlines()[0]
        assert header == "image,json,mask,contains_shiptrack"
    doc = json.loads(next((SAMPLE / "train" / "jsons").glob("*.json")).read_text())
    assert {"version", "flags", "shapes", "imagePath", "imageData", "imageHeight", "imageWidth"} <= set(doc)
    assert doc["imagePath"].startswith("../images/") and doc["imageData"] is None
    shape_types = set()
    for j in SAMPLE.glob("*/jsons/*.json"):
        shape_types |= {s["shape_type"] for s in json.loads(j.read_text())["shapes"]}
    assert shape_types == {"polygon", "linestrip"}
    mask = np.load(next((SAMPLE / "train" / "masks").glob("*.npy")))
    assert mask.dtype == np.uint8 and mask.shape == (128, 128) and set(np.unique(mask)) <= {0, 1}
    with Image.open(next((SAMPLE / "test" / "images").glob("*.png"))) as img:
        assert (img.format, img.mode, img.size) == ("PNG", "RGB", (128, 128))


def test_sample_reads_clean_and_consistent():
    images, instances = S.read_layout(LOCAL, str(SAMPLE))
    assert images.height == 40 and instances.height > 60
    assert images["image_exists"].all() and images["json_exists"].all() and images["json_image_exists"].all()
    assert images["size_matches_json"].all()
    assert (images["contains_shiptrack"] == images["has_tracks"]).all()
    assert (~images["has_tracks"]).sum() >= 6, "the sample needs images without tracks"
    with_mask = images.filter(images["mask_file"].is_not_null())
    assert with_mask.height >= 10 and with_mask["mask_binary"].all() and with_mask["mask_shape_matches"].all()
    assert with_mask["mask_polygon_iou"].min() > 0.99  # the shipped masks agree with the polygons
    assert set(instances["shape_type"]) == {"polygon", "linestrip"}
    assert (instances["out_of_bounds_px"] == 0).all()
    assert instances["bbox_x_min"].min() >= 0 and instances["bbox_x_max"].max() <= 128
    # Tracks are long and thin: 55-150 px centre lines, 10 px wide (5 px buffer either side).
    assert instances["length_px"].min() > 40 and instances["length_px"].median() > 60
    assert instances["width_px"].is_between(7, 11).all()


def test_sample_has_overlapping_tracks():
    images, instances = S.read_layout(LOCAL, str(SAMPLE))
    overlapping = 0
    for _image_id, group in instances.group_by("image_id"):
        polys = [np.stack([x, y], 1) for x, y in zip(group["polygon_x"], group["polygon_y"], strict=True)]
        _, inst = S.rasterise(polys, 128, 128)
        sem_sum = sum(S.rasterise([p], 128, 128)[0].sum() for p in polys)
        overlapping += sem_sum > (inst > 0).sum()
    assert overlapping >= 5


# ----------------------------------------------------------------------------------------------------
# Geometry


@pytest.mark.parametrize("seed", range(4))
def test_buffered_polyline_covers_exactly_the_pixels_within_the_buffer(seed):
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, 8)[:, None]
    p0, p2 = rng.uniform(10, 118, 2), rng.uniform(10, 118, 2)
    ctrl = (p0 + p2) / 2 + rng.normal(0, 25, 2)
    line = (1 - t) ** 2 * p0 + 2 * (1 - t) * t * ctrl + t**2 * p2
    for buffer_px in (3.0, 5.0):
        semantic, _ = S.rasterise([S.buffer_polyline(line, buffer_px)], 128, 128)
        yy, xx = np.mgrid[0:128, 0:128]
        d = _distance_to_polyline(np.stack([xx.ravel(), yy.ravel()], 1).astype(float), line).reshape(128, 128)
        wrong = semantic.astype(bool) != (d <= buffer_px)
        # Only pixels on the outline may differ (rasterisation rounding), never inside or far outside.
        # At most a pixel or so per unit length of outline (two sides, plus the round caps).
        assert wrong.sum() < 1.5 * S.polyline_length(line) + 2 * np.pi * buffer_px
        assert np.abs(d[wrong] - buffer_px).max() <= 1.5


def test_buffer_width_is_configurable_and_defaults_to_5px():
    line = np.array([[10.0, 50.0], [110.0, 50.0]])
    ring5 = S.buffer_polyline(line)
    assert S.polygon_area(ring5) == pytest.approx(100 * 10 + np.pi * 25, rel=0.01)
    ring2 = S.buffer_polyline(line, 2.0)
    assert S.polygon_area(ring2) == pytest.approx(100 * 4 + np.pi * 4, rel=0.01)
    assert ring5[:, 1].min() == pytest.approx(45) and ring5[:, 1].max() == pytest.approx(55)


def test_bent_line_buffer_has_no_gaps_at_the_joint():
    line = np.array([[10.0, 10.0], [60.0, 60.0], [110.0, 10.0]])  # a 90 degree bend
    for pts in (line, line[::-1]):
        semantic, _ = S.rasterise([S.buffer_polyline(pts, 5.0)], 80, 128)
        assert semantic[55:66, 60].all() and semantic[60, 55:66].all()
        assert S.polygon_area(S.buffer_polyline(pts, 5.0)) == pytest.approx(
            2 * np.hypot(50, 50) * 10 + np.pi * 25, rel=0.03
        )


def test_clip_polygon_to_image():
    square = np.array([[-10.0, -10.0], [20.0, -10.0], [20.0, 20.0], [-10.0, 20.0]])
    clipped = S.clip_polygon(square, 128, 128)
    assert S.polygon_area(clipped) == pytest.approx(400)
    assert clipped.min() >= 0
    assert S.clip_polygon(square + 500, 128, 128).shape == (0, 2)


def test_strip_length_and_width_of_a_rectangle():
    rect = np.array([[0.0, 0.0], [80.0, 0.0], [80.0, 6.0], [0.0, 6.0]])
    assert S.strip_length_width(rect) == pytest.approx((80.0, 6.0))


def test_rasterise_instances_and_union():
    a = S.buffer_polyline(np.array([[0.0, 20.0], [60.0, 20.0]]), 3)
    b = S.buffer_polyline(np.array([[30.0, 0.0], [30.0, 40.0]]), 3)
    semantic, instance = S.rasterise([a, b], 40, 60)
    assert semantic.dtype == np.uint8 and instance.dtype == np.uint16
    assert set(np.unique(instance)) == {0, 1, 2}
    assert instance[20, 30] == 2  # the later track owns the crossing
    assert ((instance > 0) == (semantic == 1)).all()


# ----------------------------------------------------------------------------------------------------
# Readers and bad input


def test_split_csv_legacy_columns_and_absolute_paths():
    data = (
        b"images_only,jsons_only,masks_updated,contains_shiptrack\n"
        b"/deep/group/x/train/images/a.png,/deep/group/x/train/jsons/a.json,,1\n"
        b"train/images/b.png,train/jsons/b.json,train/masks/b.npy,False\n"
    )
    df = S.read_split_csv(data, "train.csv", "train")
    assert df["image"].to_list() == ["train/images/a.png", "train/images/b.png"]
    assert df["mask"].to_list() == [None, "train/masks/b.npy"]
    assert df["contains_shiptrack"].to_list() == [True, False]
    assert df["source_row"].to_list() == [1, 2]


def test_split_csv_bad_flag_and_missing_column():
    with pytest.raises(SourceFormatError, match=r"val.csv, row 1: rule 'contains_shiptrack is True/False"):
        S.read_split_csv(b"image,json,mask,contains_shiptrack\na.png,a.json,,maybe\n", "val.csv", "val")
    with pytest.raises(SourceFormatError, match="split CSV has columns"):
        S.read_split_csv(b"image,mask\na.png,\n", "val.csv", "val")


def test_polygon_with_fewer_than_3_points_is_refused():
    doc = {"imagePath": "../images/a.png", "imageHeight": 10, "imageWidth": 10}
    doc["shapes"] = [{"label": "shiptrack", "points": [[1, 1], [5, 5]], "shape_type": "polygon"}]
    with pytest.raises(SourceFormatError) as err:
        S.parse_labelme(json.dumps(doc).encode(), "train/jsons/a.json")
    assert err.value.rule == "polygon has at least 3 points" and err.value.row == 0
    assert "train/jsons/a.json" in str(err.value)


def test_labelme_rejects_other_shapes_and_broken_json():
    doc = {"imagePath": "a.png", "imageHeight": 10, "imageWidth": 10}
    doc["shapes"] = [{"label": "x", "points": [[1, 1], [5, 5]], "shape_type": "rectangle"}]
    with pytest.raises(SourceFormatError, match="shape_type is polygon, linestrip or line"):
        S.parse_labelme(json.dumps(doc).encode(), "a.json")
    with pytest.raises(SourceFormatError, match="annotation is valid JSON"):
        S.parse_labelme(b'{"imagePath": ', "a.json")
    with pytest.raises(SourceFormatError, match="LabelMe JSON has key 'imageHeight'"):
        S.parse_labelme(b'{"imagePath": "a.png", "shapes": []}', "a.json")


def test_line_shape_with_two_points_is_buffered():
    doc = {"imagePath": "../images/a.png", "imageHeight": 64, "imageWidth": 64}
    doc["shapes"] = [{"label": "shiptrack", "points": [[5, 30], [60, 30]], "shape_type": "line"}]
    ann = S.parse_labelme(json.dumps(doc).encode(), "a.json")
    poly = S.shape_polygon(ann.shapes[0], 5.0)
    assert poly[:, 1].min() == pytest.approx(25) and poly[:, 1].max() == pytest.approx(35)


def test_truncated_png_is_refused(sample):
    png = next((sample / "train" / "images").glob("*.png")).read_bytes()
    with pytest.raises(SourceFormatError, match="rule 'image decodes completely"):
        S.read_image(png[: len(png) // 2], "train/images/x.png")
    assert S.read_image(png, "x.png").shape == (128, 128, 3)


def test_truncated_png_in_the_layout_names_the_file(sample):
    target = next((sample / "val" / "images").glob("*.png"))
    target.write_bytes(target.read_bytes()[:-200])
    with pytest.raises(SourceFormatError) as err:
        S.read_layout(LOCAL, str(sample))
    assert err.value.file == f"val/images/{target.name}"


def test_missing_image_and_missing_json_image_are_recorded(sample):
    second_row = (sample / "test.csv").read_text().splitlines()[2].split(",")
    (sample / second_row[0]).unlink()
    images, _ = S.read_layout(LOCAL, str(sample))
    bad = images.filter(~images["image_exists"])
    assert bad.select("source_file", "source_row").rows() == [("test.csv", 2)]
    assert bad["json_image_exists"].to_list() == [False]


def test_out_of_bounds_points_are_measured(sample):
    jf = sorted((sample / "train" / "jsons").glob("*.json"))[1]
    doc = json.loads(jf.read_text())
    doc["shapes"][0]["points"][2] = [140.5, 30.0]
    jf.write_text(json.dumps(doc))
    _, instances = S.read_layout(LOCAL, str(sample))
    bad = instances.filter(instances["out_of_bounds_px"] > 0)
    assert bad.select("source_file", "source_row", "out_of_bounds_px").rows() == [
        (f"train/jsons/{jf.name}", 0, pytest.approx(12.5))
    ]
    assert bad["bbox_x_max"].item() <= 128  # the instance polygon itself is clipped to the image


def test_mask_of_another_shape_is_recorded(sample):
    mf = next((sample / "train" / "masks").glob("*.npy"))
    buf = io.BytesIO()
    np.save(buf, np.zeros((64, 128), np.uint8))
    mf.write_bytes(buf.getvalue())
    images, _ = S.read_layout(LOCAL, str(sample))
    row = images.filter(images["mask_file"] == f"train/masks/{mf.name}")
    assert row.select("mask_height", "mask_width", "mask_shape_matches").rows() == [(64, 128, False)]


def test_non_binary_and_unreadable_masks():
    assert not S.mask_is_binary(np.array([[0, 255]], np.uint8))
    assert S.mask_is_binary(np.array([[True, False]]))
    with pytest.raises(SourceFormatError, match="mask is a readable .npy array"):
        S.read_mask(b"not an npy", "train/masks/a.npy")


def test_image_size_different_from_json_is_recorded(sample):
    jf = sorted((sample / "val" / "jsons").glob("*.json"))[0]
    doc = json.loads(jf.read_text())
    doc["imageHeight"] = 100
    jf.write_text(json.dumps(doc))
    images, _ = S.read_layout(LOCAL, str(sample))
    assert images.filter(~images["size_matches_json"])["json_file"].to_list() == [f"val/jsons/{jf.name}"]


def test_zenodo_file_list_both_api_shapes():
    api = "https://zenodo.org/api/records/10042922"
    record = {
        "files": [
            {
                "key": "b.zip",
                "size": 3,
                "checksum": "md5:abc",
                "links": {"self": f"{api}/files/b.zip/content"},
            },
            {"key": "a.csv", "size": 1, "checksum": "md5:def", "links": {}},
        ]
    }
    files = S.zenodo_files(record, api)
    assert [(f.key, f.url, f.md5) for f in files] == [
        ("a.csv", f"{api}/files/a.csv/content", "def"),
        ("b.zip", f"{api}/files/b.zip/content", "abc"),
    ]
    entries = {"entries": [{"key": "c.zip", "checksum": "md5:1", "links": {"content": "http://x/c"}}]}
    assert S.zenodo_files(entries, api)[0].url == "http://x/c"
