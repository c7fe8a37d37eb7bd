"""Validation rules for the CloudTracks tables (run as Dagster asset checks).

Blocking rules are defects that would corrupt results (a missing file, a mask of the wrong size, a mask whose
values are not 0/ids). How well a shipped mask agrees with the polygons re-rasterised here is a measurement, not a
gate (the mask is the ground truth; the buffer width for centre lines is our guess, not the annotators'): it is a
non-blocking WARN check. Failures name the split CSV and row, the image/JSON file, or the JSON file and shape
index, and the rule.
"""

import polars as pl

from dagster_project.validation import Rule, RuleResult

IMAGE_ID_COLUMNS = ("source_file", "source_row", "image_file", "json_file", "mask_file")
INSTANCE_ID_COLUMNS = ("source_file", "source_row", "image_id")


def _all_true(column: str, description: str) -> Rule:
    return Rule("ExpectColumnValuesToBeInSet", {"column": column, "value_set": [True]}, description)


def image_rules() -> list[Rule]:
    return [
        Rule("ExpectTableRowCountToBeBetween", {"min_value": 1}, "the split CSVs list at least one image"),
        Rule("ExpectColumnValuesToBeUnique", {"column": "image_id"}, "an image appears in one split only"),
        _all_true("image_exists", "every split row points to an existing image file"),
        _all_true("json_exists", "every split row points to an existing LabelMe JSON"),
        _all_true("mask_exists", "every mask named by a split row exists"),
        _all_true("json_image_exists", "the JSON's imagePath points to an existing image"),
        _all_true("size_matches_json", "JSON imageHeight/imageWidth equal the image's real size"),
        _all_true("mask_shape_matches", "a shipped mask has the same height and width as its image"),
        _all_true(
            "mask_values_valid",
            "a shipped mask holds 0 for background and 1 (or 255) per track pixel, or one positive integer id "
            "per track",
        ),
        Rule(
            "ExpectColumnPairValuesToBeEqual",
            {"column_A": "contains_shiptrack", "column_B": "has_tracks"},
            "contains_shiptrack in the split CSV agrees with the JSON's shapes",
        ),
    ]


def instance_rules(bounds_tolerance_px: float) -> list[Rule]:
    return [
        Rule(
            "ExpectColumnValuesToBeBetween",
            {"column": "out_of_bounds_px", "min_value": 0, "max_value": bounds_tolerance_px},
            "every annotated point lies inside the image (pixels outside, per shape)",
        ),
        Rule(
            "ExpectColumnValuesToBeBetween",
            {"column": "area_px", "min_value": 0, "strict_min": True},
            "the instance polygon covers some of the image",
        ),
        Rule(
            "ExpectColumnValuesToBeBetween",
            {"column": "length_px", "min_value": 0, "strict_min": True},
            "a track has a positive length",
        ),
    ]


def mask_agreement(images: pl.DataFrame, min_iou: float) -> list[RuleResult]:
    """Non-blocking measurements: a shipped mask vs the polygons re-rasterised here (IoU per image), and an
    instance-id mask's track count vs the JSON's shapes."""
    ids = ["source_file", "source_row", "mask_file"]
    with_iou = images.filter(pl.col("mask_polygon_iou").is_not_null())
    low = with_iou.filter(pl.col("mask_polygon_iou") < min_iou)
    counted = images.filter(pl.col("mask_track_count").is_not_null())
    off = counted.filter(pl.col("mask_track_count") != pl.col("track_count"))
    return [
        RuleResult(
            rule=f"a shipped mask agrees with the rasterised polygons (IoU >= {min_iou})",
            passed=low.height == 0,
            unexpected_count=low.height,
            element_count=with_iou.height,
            examples=[
                {**{k: r[k] for k in ids}, "value": round(r["mask_polygon_iou"], 4)}
                for r in low.sort("mask_polygon_iou").head(5).iter_rows(named=True)
            ],
        ),
        RuleResult(
            rule="an instance-id mask has as many tracks as the JSON has shapes",
            passed=off.height == 0,
            unexpected_count=off.height,
            element_count=counted.height,
            examples=[
                {
                    **{k: r[k] for k in ids},
                    "value": f"{r['mask_track_count']} ids vs {r['track_count']} shapes",
                }
                for r in off.head(5).iter_rows(named=True)
            ],
        ),
    ]


def iou_distribution(images: pl.DataFrame) -> dict:
    """Summary of the per-image mask-vs-polygon IoU (images with a comparable shipped mask)."""
    iou = images["mask_polygon_iou"].drop_nulls()
    if iou.is_empty():
        return {"images": 0}
    q = {f"p{int(p * 100):02d}": round(float(iou.quantile(p, "nearest")), 4) for p in (0.05, 0.25, 0.5, 0.75)}
    return {
        "images": iou.len(),
        "min": round(float(iou.min()), 4),
        **q,
        "mean": round(float(iou.mean()), 4),
        "max": round(float(iou.max()), 4),
    }


def mask_consistency(masks: pl.DataFrame) -> RuleResult:
    """Plain-Python rule on the mask table: track pixels exist exactly where the image has tracks."""
    bad = masks.filter((pl.col("semantic_pixels") > 0) != (pl.col("instance_count") > 0))
    return RuleResult(
        rule="semantic mask has track pixels exactly when the image has track instances",
        passed=bad.height == 0,
        unexpected_count=bad.height,
        element_count=masks.height,
        examples=[
            {
                "image_file": r["image_file"],
                "semantic_pixels": r["semantic_pixels"],
                "instances": r["instance_count"],
            }
            for r in bad.head(5).iter_rows(named=True)
        ],
    )
