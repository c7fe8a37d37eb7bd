"""CloudTracks conformance: an independently written release (not the sample writer: other sizes, names, ids and
values; masks absent, 0/1, bool, 0/255 and instance ids; imagePath relative, bare, absolute and Windows-style;
legacy and current CSV columns; the root nested in a release folder), read by our reader and by a port of the
authors' reading logic (`Ahmed14974/mmdetection`, branch `aicc-bootcamp`: `instance_seg.ipynb`,
`inference_pos_iou.py`), which must agree. Plus one reader-level test per accepted variant."""

import csv
import io
import json
from pathlib import Path

import fsspec
import numpy as np
import pandas as pd
import polars as pl
import pytest
from PIL import Image

from dagster_project.datasets.cloudtracks import assets, checks
from dagster_project.datasets.cloudtracks import source as S
from dagster_project.validation import Rule

LOCAL = fsspec.filesystem("file")

# name -> split, (height, width), image mode, tracks as (x0, y0, x1, y1) rectangles drawn as polygons or as a
# horizontal/vertical centre line, mask kind, imagePath style
RELEASE = {
    "myd2022017.1415": ("train", (40, 56), "RGB", [(4, 6, 30, 11), (10, 20, 50, 26)], "ids_u16", "labelme"),
    "mod2022033.0205": ("train", (33, 47), "L", [(2, 3, 40, 8)], "none", "bare"),
    "myd2022049.2340": ("train", (40, 56), "RGB", [], "zeros", "absolute"),
    "mod2022065.1130": (
        "train",
        (52, 38),
        "RGB",
        [(5, 5, 12, 45), (20, 2, 26, 50), (28, 8, 34, 40)],
        "01",
        "windows",
    ),
    "myd2022081.0655": ("val", (33, 47), "RGB", [(1, 1, 45, 6)], "bool", "labelme"),
    "mod2022097.0030": ("val", (40, 56), "L", [], "none", "bare"),
    "myd2022113.1812": ("test", (52, 38), "RGB", [(3, 10, 30, 16), (3, 30, 30, 37)], "ids_i32", "labelme"),
    "mod2022129.0448": ("test", (33, 47), "RGBA", [(6, 4, 12, 30)], "255", "absolute"),
    "myd2022145.2221": ("test", (40, 56), "RGB", [(8, 8, 48, 14)], "none", "labelme"),
}
INSTANCE_IDS = {"ids_u16": (3, 11), "ids_i32": (200, 7)}  # non-consecutive ids, below 256 (see _authors_read)


def _rect_polygon(x0, y0, x1, y1) -> list[list[float]]:
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]


def _write_release(base: Path) -> Path:
    """The authors' layout under `base/CloudTracks_release/data` with absolute paths in the CSVs (as theirs)."""
    root = base / "CloudTracks_release" / "data"
    rng = np.random.default_rng(2024)
    rows: dict[str, list[list[str]]] = {"train": [], "val": [], "test": []}
    for n, (name, (split, (h, w), mode, rects, mask_kind, path_style)) in enumerate(RELEASE.items()):
        for sub in ("images", "jsons", "masks"):
            (root / split / sub).mkdir(parents=True, exist_ok=True)
        channels = {"L": 1, "RGB": 3, "RGBA": 4}[mode]
        pix = rng.integers(20, 230, (h, w, channels), dtype=np.uint8)
        img = Image.fromarray(pix[:, :, 0] if mode == "L" else pix, mode=mode)
        image_file = root / split / "images" / f"{name}.png"
        img.save(image_file, format="PNG")
        shapes = []
        for k, (x0, y0, x1, y1) in enumerate(rects):
            if (n + k) % 2:  # a centre line along the rectangle's long axis
                if x1 - x0 >= y1 - y0:
                    pts = [[x0, (y0 + y1) / 2], [x1, (y0 + y1) / 2]]
                else:
                    pts = [[(x0 + x1) / 2, y0], [(x0 + x1) / 2, y1]]
                shapes.append({"label": "shiptrack", "points": pts, "shape_type": "linestrip"})
            else:
                shapes.append(
                    {"label": "shiptrack", "points": _rect_polygon(x0, y0, x1, y1), "shape_type": "polygon"}
                )
        image_path = {
            "labelme": f"../images/{name}.png",
            "bare": f"{name}.png",
            "absolute": f"/home/annotator/shiptracks/{split}/images/{name}.png",
            "windows": f"..\\images\\{name}.png",
        }[path_style]
        doc = {"version": "5.0.1", "flags": {}, "shapes": shapes, "imagePath": image_path, "imageData": None}
        doc.update(imageHeight=h, imageWidth=w)
        json_file = root / split / "jsons" / f"{name}.json"
        json_file.write_text(json.dumps(doc))
        mask_cell = ""
        if mask_kind != "none":
            ids = np.zeros((h, w), np.int64)
            for k, (x0, y0, x1, y1) in enumerate(rects):
                ids[y0 : y1 + 1, x0 : x1 + 1] = INSTANCE_IDS[mask_kind][k] if mask_kind in INSTANCE_IDS else 1
            mask = {
                "ids_u16": ids.astype(np.uint16),
                "ids_i32": ids.astype(np.int32),
                "01": ids.astype(np.uint8),
                "zeros": ids.astype(np.uint8),
                "bool": ids.astype(bool),
                "255": (ids * 255).astype(np.uint8),
            }[mask_kind]
            mask_file = root / split / "masks" / f"{name}.npy"
            np.save(mask_file, mask)
            mask_cell = str(mask_file)
        rows[split].append([str(image_file), str(json_file), mask_cell, str(bool(rects))])
    for split, data in rows.items():
        # train.csv uses the older column names of the authors' first notebook cells
        header = (
            ["images_only", "jsons_only", "masks_updated", "contains_shiptrack"]
            if split == "train"
            else ["image", "json", "mask", "contains_shiptrack"]
        )
        with open(root / f"{split}.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(header)
            writer.writerows(data)
    return root


def _authors_read(root: Path) -> dict[str, dict]:
    """Port of the authors' reading logic: pandas reads each split CSV (absolute paths; `images_only`/`jsons_only`/
    `masks_updated` in the older notebook cells), PIL + np.asarray the image, json-load the LabelMe file (one
    instance per shape), np.load the mask and binarise it as `inference_pos_iou.py` does (astype(uint8), then
    non-zero -> 1; ids >= 256 would wrap there, so the fixture keeps ids below 256)."""
    out = {}
    for split in ("train", "val", "test"):
        df = pd.read_csv(root / f"{split}.csv")
        img_col = "image" if "image" in df.columns else "images_only"
        json_col = "json" if "json" in df.columns else "jsons_only"
        mask_col = "mask" if "mask" in df.columns else "masks_updated"
        for i in range(len(df)):
            image = np.asarray(Image.open(df.loc[i, img_col]))
            with open(df.loc[i, json_col]) as f:
                annotation = json.load(f)
            mask = None
            if isinstance(df.loc[i, mask_col], str):
                mask = np.load(df.loc[i, mask_col])
                mask = mask.astype(np.uint8)
                mask[mask != 0] = 1
            name = df.loc[i, img_col].split("/")[-1].rsplit(".", 1)[0]
            out[name] = {
                "split": split,
                "shape": image.shape,
                "instances": len(annotation["shapes"]),
                "mask": mask,
                "contains_shiptrack": bool(df.loc[i, "contains_shiptrack"]),
            }
    return out


def _our_read(base: Path) -> tuple[pl.DataFrame, dict[str, dict]]:
    """Our reader on the same tree, plus the ground-truth masks `cloudtracks_masks` builds from it."""
    images, instances = S.read_layout(LOCAL, str(base))
    root = S.layout_root(LOCAL, str(base))
    polys = assets.instance_polygons(instances)
    out = {}
    for r in images.iter_rows(named=True):
        shipped = (
            S.read_mask((Path(root) / r["mask_file"]).read_bytes(), r["mask_file"])
            if r["mask_file"]
            else None
        )
        semantic, instance, count, origin = S.image_masks(
            polys.get(r["image_id"], []), r["height"], r["width"], shipped
        )
        out[r["image_id"]] = {
            "row": r,
            "semantic": semantic,
            "instance": instance,
            "count": count,
            "origin": origin,
        }
    return images, out


BLOCKING_FLAGS = (
    "image_exists",
    "json_exists",
    "json_image_exists",
    "size_matches_json",
)
MASK_FLAGS = ("mask_exists", "mask_shape_matches", "mask_values_valid")


def test_reader_agrees_with_the_authors_reading_logic(tmp_path):
    root = _write_release(tmp_path)
    theirs = _authors_read(root)
    images, ours = _our_read(tmp_path)

    assert set(ours) == set(theirs) == set(RELEASE)
    for name, t in theirs.items():
        o = ours[name]
        r = o["row"]
        assert r["split"] == t["split"], name
        shape = (r["height"], r["width"]) + (() if r["channels"] == 1 else (r["channels"],))
        assert shape == t["shape"], name
        assert r["track_count"] == r["true_track_count"] == o["count"] == t["instances"], name
        assert r["contains_shiptrack"] == t["contains_shiptrack"], name
        if t["mask"] is not None:  # the shipped mask is the truth: the same binary mask as the authors'
            assert o["semantic"].dtype == np.uint8 and np.array_equal(o["semantic"], t["mask"]), name
        else:  # no mask: the polygons are rasterised, tracks exactly where there are shapes
            assert r["mask_source"] == "polygons" and o["semantic"].any() == (t["instances"] > 0), name
        assert (
            r["image_file"] == f"{t['split']}/images/{name}.png"
        )  # absolute CSV paths cut to the layout tail
    # Every accepted variant passes every blocking rule.
    for flag in BLOCKING_FLAGS:
        assert images[flag].all(), flag
    with_mask = images.filter(pl.col("mask_file").is_not_null())
    for flag in MASK_FLAGS:
        assert with_mask[flag].all(), flag


def test_instance_ids_are_kept_as_instances_and_count_tracks(tmp_path):
    _write_release(tmp_path)
    images, ours = _our_read(tmp_path)
    kinds = dict(zip(images["image_id"], images["mask_kind"], strict=True))
    for name, (_, _, _, rects, mask_kind, _) in RELEASE.items():
        o = ours[name]
        if mask_kind in INSTANCE_IDS:
            assert kinds[name] == "instance_ids" and o["origin"] == "npy_instance_ids"
            assert o["row"]["mask_track_count"] == len(rects)
            assert set(np.unique(o["instance"])) == {0, *INSTANCE_IDS[mask_kind][: len(rects)]}
        elif mask_kind == "none":
            assert kinds[name] is None and o["origin"] == "polygons"
        else:
            assert kinds[name] == "binary" and o["origin"] == "npy_binary"
            assert o["row"]["mask_track_count"] is None
            assert o["instance"].max() == len(rects)  # instances from the polygons when the mask cannot count


def test_image_paths_are_found_as_written_by_labelme_bare_absolute_and_windows(tmp_path):
    _write_release(tmp_path)
    images, _ = _our_read(tmp_path)
    found = dict(zip(images["image_id"], images["json_image_found_by"], strict=True))
    expected = {"labelme": "relative_to_json", "windows": "relative_to_json", "bare": "images_folder"}
    for name, (*_, style) in RELEASE.items():
        # an absolute path from the annotators' machine: cut to its layout tail, which exists here
        assert found[name] == expected.get(style, "absolute"), name
    assert (images["json_image_file"] == images["image_file"]).all()
    assert set(images["image_found_by"]) == {"as_written"}  # absolute CSV paths, normalised to the tail


# ------------------------------------------------------------------------------------------ variants, one by one


@pytest.mark.parametrize(
    "cell",
    [
        "val/images/{n}.png",
        "./val/images/{n}.png",
        "{n}.png",
        "/mnt/x/val/images/{n}.png",
        "export/val/images/{n}.png",
    ],
)
def test_split_csv_paths_relative_bare_absolute_or_prefixed(tmp_path, cell):
    root = _write_release(tmp_path)
    df = pd.read_csv(root / "val.csv")
    names = [Path(p).stem for p in df["image"]]
    df["image"] = [cell.format(n=n) for n in names]
    df["json"] = [cell.format(n=n).replace("images", "jsons").replace(".png", ".json") for n in names]
    df.to_csv(root / "val.csv", index=False)
    images, _ = S.read_layout(LOCAL, str(tmp_path))
    val = images.filter(pl.col("split") == "val")
    assert val["image_exists"].all() and val["json_exists"].all() and val["json_image_exists"].all()
    assert val["image_file"].to_list() == [f"val/images/{n}.png" for n in names]


def test_split_csv_nan_mask_cell_means_no_mask():
    df = S.read_split_csv(
        b"image,json,mask,contains_shiptrack\na.png,a.json,nan,0\nb.png,b.json,,1\n", "t.csv", "test"
    )
    assert df["mask"].to_list() == [None, None]


@pytest.mark.parametrize(
    ("mask", "kind", "count"),
    [
        (np.array([[0, 1], [1, 0]], np.uint8), "binary", None),
        (np.array([[False, True], [True, False]]), "binary", None),
        (np.array([[0, 255], [255, 0]], np.uint8), "binary", None),
        (np.array([[0, 1.0], [1.0, 0]], np.float32), "binary", None),
        (np.array([[0, 4], [9, 4]], np.uint16), "instance_ids", 2),
        (np.array([[0, 2], [3, 1]], np.int64), "instance_ids", 3),
        (np.array([[0, 300], [2, 0]], np.int32), "instance_ids", 2),
        (np.array([[0, -1], [1, 0]], np.int16), "invalid", None),
        (np.array([[0, 0.5], [1, 0]], np.float64), "invalid", None),
        (np.array([[0, np.nan], [1, 0]], np.float64), "invalid", None),
    ],
)
def test_mask_values_are_classified(mask, kind, count):
    summary = S.mask_summary(mask)
    assert (summary.kind, summary.track_count) == (kind, count)


def test_mask_with_a_channel_axis_is_read_as_2d():
    buf = io.BytesIO()
    np.save(buf, np.ones((5, 7, 1), np.uint8))
    assert S.read_mask(buf.getvalue(), "m.npy").shape == (5, 7)
    buf = io.BytesIO()
    np.save(buf, np.ones((2, 5, 7), np.uint8))
    with pytest.raises(S.SourceFormatError, match="mask is a 2-D array"):
        S.read_mask(buf.getvalue(), "m.npy")


def _blocking_failures(images: pl.DataFrame) -> list[str]:
    """Names of the blocking image rules that fail on the table (evaluated like GX does: nulls are skipped)."""
    failed = []
    for rule in checks.image_rules():
        col = rule.kwargs.get("column")
        if rule.expectation == "ExpectColumnValuesToBeInSet" and not images[col].drop_nulls().all():
            failed.append(col)
    return failed


def test_invalid_mask_values_still_block_and_disagreement_only_warns(tmp_path):
    root = _write_release(tmp_path)
    # a mask that disagrees with its polygons (its tracks drawn across the top and bottom instead of upright):
    # accepted, measured, warned about
    shifted_file = root / "train" / "masks" / "mod2022065.1130.npy"
    other = np.zeros((52, 38), np.uint8)
    other[0:4], other[48:52] = 1, 1
    np.save(shifted_file, other)
    images, _ = S.read_layout(LOCAL, str(tmp_path))
    assert _blocking_failures(images) == []
    iou = dict(zip(images["image_id"], images["mask_polygon_iou"], strict=True))
    assert iou["mod2022065.1130"] < 0.3 and iou["myd2022081.0655"] > 0.8
    agreement = checks.mask_agreement(images, 0.9)
    assert not agreement[0].passed and agreement[0].examples[0]["mask_file"].endswith("mod2022065.1130.npy")
    assert agreement[1].passed  # instance ids and JSON shapes agree in number
    dist = checks.iou_distribution(images)
    assert dist["images"] == 6 and dist["min"] == pytest.approx(iou["mod2022065.1130"], abs=1e-4)
    # a mask with a negative value is a corrupt file: blocked, naming it
    np.save(shifted_file, np.full((52, 38), -1, np.int16))
    images, _ = S.read_layout(LOCAL, str(tmp_path))
    assert _blocking_failures(images) == ["mask_values_valid"]
    bad = images.filter(~pl.col("mask_values_valid"))
    assert bad.select("source_file", "source_row", "mask_file").rows() == [
        ("train.csv", 4, "train/masks/mod2022065.1130.npy")
    ]


def test_image_rules_no_longer_gate_on_agreement_or_binariness():
    columns = {r.kwargs.get("column") for r in checks.image_rules() if isinstance(r, Rule)}
    assert "mask_polygon_iou" not in columns and "mask_binary" not in columns
    assert "mask_values_valid" in columns and "mask_shape_matches" in columns
