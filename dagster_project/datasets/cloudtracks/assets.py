"""CloudTracks ingestion: raw files (folder, S3 or the Zenodo record) → image and instance tables (validated) →
semantic/instance masks and a COCO export."""

import json

import dagster as dg
import numpy as np
import polars as pl

from dagster_project import records
from dagster_project.datasets.cloudtracks import checks, pixels, source
from dagster_project.ingest import (
    Table,
    emit_table,
    folder_or_record,
    raw_files_asset,
    table_asset,
    table_check,
    table_out,
)
from dagster_project.raw import raw_relpath
from dagster_project.resource_hints import resource_hints
from dagster_project.roles import Role, role_tags
from dagster_project.storage import Lake
from dagster_project.validation import python_report, validate_frame

DATASET = source.DATASET
RAW = raw_relpath(DATASET)
LAYOUT_PATTERNS = ("*.csv", "*.png", "*.jpg", "*.jpeg", "*.PNG", "*.JPG", "*.json", "*.npy")
COCO_DIR = f"exports/{DATASET}/coco"


class CloudTracksLayoutConfig(dg.Config):
    """How annotations become instances, and the tolerances of the validation rules."""

    buffer_px: float = source.DEFAULT_BUFFER_PX  # centre lines are buffered by this much on each side
    bounds_tolerance_px: float = 0.0  # how far outside the image an annotated point may lie
    # shipped .npy mask vs rasterised polygons: below this the non-blocking agreement check warns (never blocks)
    min_mask_agreement_iou: float = 0.9


# ------------------------------------------------------------------------------------------ raw files

# The Zenodo record (https://zenodo.org/api/records/10042922): its zip is unpacked, loose layout files taken as is.
RECORD = records.RecordSource(
    DATASET, patterns=LAYOUT_PATTERNS, loose_suffixes=(".csv", ".json", ".png", ".jpg", ".jpeg", ".npy")
)
list_remote = RECORD.list_remote


cloudtracks_raw_files = raw_files_asset(
    DATASET,
    kinds={"python", "png", "json"},
    ingest=folder_or_record(LAYOUT_PATTERNS, RECORD),
    metadata=lambda m: {
        "images": int(m["relpath"].str.contains(r"(?i)\.(png|jpe?g)$").sum()),
        "jsons": int(m["relpath"].str.ends_with(".json").sum()),
        "masks": int(m["relpath"].str.ends_with(".npy").sum()),
    },
    description="CloudTracks source files (split CSVs, images, LabelMe JSONs, `.npy` masks) copied byte for byte "
    "into `raw/cloudtracks/`, with their manifest (size, sha256, source URL, retrieval time). A folder or `s3://` "
    "URL must hold the authors' layout (train/val/test CSVs, images, jsons, masks); the published data is read "
    "from the Zenodo files API, `https://zenodo.org/api/records/10042922`, whose files are kept as downloaded "
    "under `raw/cloudtracks/_archives/` (resumable, md5-checked) and unpacked. Unchanged files are not copied "
    "again; a changed file's previous copy is kept under `_history/`.",
)


def raw_root(lake: Lake) -> str:
    """Lake-relative folder of the dataset root (where the split CSVs are) inside the raw area."""
    return lake.relative(source.layout_root(lake.fs, lake.path(RAW)))


@dg.multi_asset(
    outs={
        "cloudtracks_images": table_out(
            DATASET,
            "One row per split-CSV row: split, file paths (and how each was found: as written, by "
            "its layout tail, in the split folder), real image size and channels, the JSON's claimed size, track "
            "count (JSON shapes; `true_track_count` is the mask's instance ids where a mask holds them), the CSV's "
            "contains_shiptrack flag, whether a mask ships as .npy (its shape, kind `binary`/`instance_ids` and "
            "IoU with the rasterised polygons), track pixels and mean intensity; with `source_file`/`source_row` "
            "naming the CSV row.",
        ),
        "cloudtracks_instances": table_out(
            DATASET,
            "One row per ship track (LabelMe shape): shape type, annotated points, the instance polygon "
            "(centre lines buffered by `buffer_px` on each side, clipped to the image), length, width, area, "
            "bounding box and how far any point lies outside the image; `source_file`/`source_row` name the JSON "
            "and shape index.",
        ),
    },
    group_name=DATASET,
    check_specs=[
        table_check(
            "cloudtracks_images",
            "Split rows point to existing images/JSONs/masks, JSON imagePath exists, JSON "
            "imageHeight/imageWidth = real size, masks image-shaped and holding 0/1 or instance ids, "
            "contains_shiptrack agrees with the annotations.",
        ),
        table_check(
            "cloudtracks_images",
            check="cloudtracks_mask_agreement",
            blocking=False,
            description="Measurement, never a gate (WARN): shipped masks vs the polygons re-rasterised here (IoU "
            "per image, `min_mask_agreement_iou`) and instance-id counts vs the JSON shapes. The mask is the "
            "ground truth; the centre-line buffer width is our guess, not the annotators'.",
        ),
        table_check(
            "cloudtracks_instances",
            "Annotated points inside the image bounds; non-empty polygons; positive track length.",
        ),
    ],
)
def cloudtracks_tables(
    context: dg.AssetExecutionContext,
    config: CloudTracksLayoutConfig,
    lake: Lake,
    cloudtracks_raw_files: pl.DataFrame,
):
    """Reads the raw layout once (each image decoded in full, so a truncated file fails here naming it) into the
    image and instance tables, then validates both."""
    root = lake.path(raw_root(lake))
    images, instances = source.read_layout(lake.fs, root, buffer_px=config.buffer_px)
    images = images.with_columns(
        (pl.lit(raw_root(lake) + "/") + pl.col("image_file")).alias("raw_image_path"),
        pl.when(pl.col("mask_file").is_not_null())
        .then(pl.lit(raw_root(lake) + "/") + pl.col("mask_file"))
        .alias("raw_mask_path"),
    )
    context.log.info(f"cloudtracks: {images.height} images, {instances.height} track instances")
    img_report = validate_frame(
        images,
        suite="cloudtracks_images",
        rules=checks.image_rules(),
        id_columns=checks.IMAGE_ID_COLUMNS,
        lake=lake,
    )
    inst_report = validate_frame(
        instances,
        suite="cloudtracks_instances",
        rules=checks.instance_rules(config.bounds_tolerance_px),
        id_columns=checks.INSTANCE_ID_COLUMNS,
        lake=lake,
    )
    agreement = python_report(
        "cloudtracks_mask_agreement",
        checks.mask_agreement(images, config.min_mask_agreement_iou),
        row_count=images.height,
    )
    iou_summary = checks.iou_distribution(images)
    by_split = images.group_by("split").agg(pl.len(), pl.col("track_count").sum()).sort("split")
    images_table = Table(
        images,
        img_report,
        {
            "images_per_split": dg.MetadataValue.json({r[0]: r[1] for r in by_split.iter_rows()}),
            "images_with_tracks": int(images["has_tracks"].fill_null(False).sum()),
            "masks_shipped": int(images["mask_file"].is_not_null().sum()),
            "mask_kinds": dg.MetadataValue.json(_counts(images, "mask_kind")),
            "true_tracks": int(images["true_track_count"].fill_null(0).sum()),
            "mask_polygon_iou": dg.MetadataValue.json(iou_summary),
            "paths_found_by": dg.MetadataValue.json(
                {c: _counts(images, f"{c}_found_by") for c in ("image", "json", "mask", "json_image")}
            ),
        },
    )
    instances_table = Table(
        instances,
        inst_report,
        {
            "buffer_px": config.buffer_px,
            "shape_types": dg.MetadataValue.json(
                {r[0]: r[1] for r in instances.group_by("shape_type").len().iter_rows()}
            ),
        },
    )
    yield from emit_table("cloudtracks_images", images_table, output_name="cloudtracks_images")
    yield from emit_table("cloudtracks_instances", instances_table, output_name="cloudtracks_instances")
    yield _warning(
        agreement.check_result("cloudtracks_mask_agreement", asset_key="cloudtracks_images"),
        {"mask_polygon_iou": dg.MetadataValue.json(iou_summary)},
    )


def _counts(df: pl.DataFrame, column: str) -> dict[str, int]:
    """{value: rows} of a column, nulls left out, sorted by value (stable metadata)."""
    return {str(k): n for k, n in df[column].drop_nulls().value_counts().sort(column).iter_rows()}


def _warning(result: dg.AssetCheckResult, extra: dict) -> dg.AssetCheckResult:
    """The same check result at WARN severity (a measurement: it never blocks), with extra metadata."""
    return dg.AssetCheckResult(
        passed=result.passed,
        severity=dg.AssetCheckSeverity.WARN,
        description=result.description,
        metadata={**result.metadata, **extra},
        check_name=result.check_name,
        asset_key=result.asset_key,
    )


def instance_polygons(instances: pl.DataFrame) -> dict[str, list[np.ndarray]]:
    """Instance polygons per image id, in shape order."""
    out: dict[str, list[np.ndarray]] = {}
    for r in instances.sort("image_id", "instance_id").iter_rows(named=True):
        out.setdefault(r["image_id"], []).append(np.stack([r["polygon_x"], r["polygon_y"]], axis=1))
    return out


@table_asset(
    "cloudtracks_masks",
    dataset=DATASET,
    check="cloudtracks_masks_consistent",
    op_tags=resource_hints(cpu="1", memory="2Gi"),  # Kubernetes requests/limits under dagster-k8s
    check_description="Semantic masks have track pixels exactly where the image has track instances.",
)
def cloudtracks_masks(
    context: dg.AssetExecutionContext,
    lake: Lake,
    cloudtracks_images: pl.DataFrame,
    cloudtracks_instances: pl.DataFrame,
):
    """Semantic and instance masks per image, as lossless PNG bytes whose pixel values are the mask values
    (`semantic_png`: 0/1; `instance_png`: 0 = background, k = k-th track or the shipped id; where tracks cross,
    the later one owns the pixel; see `pixels.mask_to_png` for the bit depths). A shipped `.npy`
    mask is the ground truth: its non-zero pixels are the semantic mask, and where it holds instance ids they are
    the instance mask and `instance_count` (`instance_source` = `npy_instance_ids`); otherwise instances come from
    the polygons rasterised like LabelMe does. Decode with `np.asarray(PIL.Image.open(io.BytesIO(png)))`."""
    polys = instance_polygons(cloudtracks_instances)
    rows = []
    for r in cloudtracks_images.sort("split", "image_id").iter_rows(named=True):
        h, w = r["height"], r["width"]
        shipped = (
            source.read_mask(lake.read_bytes(r["raw_mask_path"]), r["mask_file"])
            if r["raw_mask_path"] is not None
            else None
        )
        semantic, instance, count, origin = source.image_masks(polys.get(r["image_id"], []), h, w, shipped)
        del shipped
        rows.append(
            {
                "image_id": r["image_id"],
                "split": r["split"],
                "image_file": r["image_file"],
                "height": h,
                "width": w,
                "mask_source": r["mask_source"],
                "instance_source": origin,
                "instance_count": count,
                "semantic_pixels": int(np.count_nonzero(semantic)),
                "semantic_png": pixels.mask_to_png(semantic),
                "instance_png": pixels.mask_to_png(instance),
            }
        )
    masks = pl.DataFrame(rows)
    report = python_report("cloudtracks_masks", [checks.mask_consistency(masks)], row_count=masks.height)
    return Table(
        masks,
        report,
        describe=masks.drop("semantic_png", "instance_png"),
        metadata={
            "mask_bytes": int(
                masks["semantic_png"].bin.size().sum() + masks["instance_png"].bin.size().sum()
            ),
            "instance_sources": dg.MetadataValue.json(_counts(masks, "instance_source")),
            "tracks": int(masks["instance_count"].sum()),
        },
    )


def coco_dataset(images: pl.DataFrame, instances: pl.DataFrame, split: str) -> dict:
    """COCO instance-segmentation JSON of one split, one category `shiptrack`, as the authors' conversion
    (`instance_seg.ipynb`): category id 0, polygon points shifted by +0.5 (pixel centres to COCO's pixel-corner
    convention). Unlike that notebook, bbox and area are computed from the shifted polygon (the notebook used
    the unshifted points' bbox as `area`)."""
    imgs = images.filter(pl.col("split") == split).sort("image_id")
    ids = {iid: n for n, iid in enumerate(imgs["image_id"].to_list())}
    coco_images = [
        {"id": ids[r["image_id"]], "file_name": r["image_file"], "height": r["height"], "width": r["width"]}
        for r in imgs.iter_rows(named=True)
    ]
    annotations = []
    for r in instances.filter(pl.col("split") == split).sort("image_id", "instance_id").iter_rows(named=True):
        if len(r["polygon_x"]) < 3:
            continue
        # Rounded first, so that bbox and area describe exactly the polygon written to the file.
        ring = np.round(np.stack([r["polygon_x"], r["polygon_y"]], axis=1) + 0.5, 3)
        xs, ys = ring[:, 0], ring[:, 1]
        x0, y0 = float(xs.min()), float(ys.min())
        annotations.append(
            {
                "id": len(annotations),
                "image_id": ids[r["image_id"]],
                "category_id": 0,
                "segmentation": [ring.ravel().tolist()],
                "bbox": [x0, y0, float(xs.max()) - x0, float(ys.max()) - y0],
                "area": source.polygon_area(ring),
                "iscrowd": 0,
            }
        )
    return {
        "info": {"description": f"CloudTracks {split} split, converted by climate-data-platform"},
        "images": coco_images,
        "annotations": annotations,
        "categories": [{"id": 0, "name": source.CATEGORY}],
    }


@dg.asset(
    name="cloudtracks_coco",
    group_name=DATASET,
    kinds={"python", "json"},
    tags=role_tags(Role.EXPORT, DATASET),
)
def cloudtracks_coco(
    lake: Lake, cloudtracks_images: pl.DataFrame, cloudtracks_instances: pl.DataFrame
) -> dg.MaterializeResult:
    """COCO instance-segmentation files, one per split (`exports/cloudtracks/coco/<split>_annotation_coco.json`,
    category `shiptrack`), for training Mask R-CNN / SOLOv2 (e.g. mmdetection) on the validated annotations.
    `file_name` is relative to the dataset root in the raw area."""
    meta: dict = {}
    for split in source.SPLITS:
        if not (cloudtracks_images["split"] == split).any():
            continue
        coco = coco_dataset(cloudtracks_images, cloudtracks_instances, split)
        rel = f"{COCO_DIR}/{split}_annotation_coco.json"
        lake.write_bytes(rel, json.dumps(coco).encode())
        meta[f"{split}_path"] = dg.MetadataValue.path(lake.url(rel))
        meta[f"{split}_images"] = len(coco["images"])
        meta[f"{split}_annotations"] = len(coco["annotations"])
    return dg.MaterializeResult(metadata=meta)
