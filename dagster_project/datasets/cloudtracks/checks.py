"""Validation rules for the CloudTracks tables (run as blocking Dagster asset checks).

Failures name the split CSV and row, the image/JSON file, or the JSON file and shape index, and the rule.
"""

import numpy as np
import polars as pl

from dagster_project.validation import Rule, RuleResult

IMAGE_ID_COLUMNS = ("source_file", "source_row", "image_file", "json_file", "mask_file")
INSTANCE_ID_COLUMNS = ("source_file", "source_row", "image_id")


def _all_true(column: str, description: str) -> Rule:
    return Rule("ExpectColumnValuesToBeInSet", {"column": column, "value_set": [True]}, description)


def image_rules(min_mask_agreement_iou: float) -> list[Rule]:
    return [
        Rule("ExpectTableRowCountToBeBetween", {"min_value": 1}, "the split CSVs list at least one image"),
        Rule("ExpectColumnValuesToBeUnique", {"column": "image_id"}, "an image appears in one split only"),
        _all_true("image_exists", "every split row points to an existing image file"),
        _all_true("json_exists", "every split row points to an existing LabelMe JSON"),
        _all_true("mask_exists", "every mask named by a split row exists"),
        _all_true("json_image_exists", "the JSON's imagePath points to an existing image"),
        _all_true("size_matches_json", "JSON imageHeight/imageWidth equal the image's real size"),
        _all_true("mask_shape_matches", "a shipped mask has the same height and width as its image"),
        _all_true("mask_binary", "a shipped mask holds only 0 and 1"),
        Rule(
            "ExpectColumnValuesToBeBetween",
            {"column": "mask_polygon_iou", "min_value": min_mask_agreement_iou},
            "a shipped mask agrees with the rasterised polygons (IoU)",
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


def binary(mask: np.ndarray) -> np.ndarray:
    """A validated shipped mask as uint8 0/1 (the authors' loader also sets every non-zero value to 1)."""
    return (mask != 0).astype(np.uint8)
