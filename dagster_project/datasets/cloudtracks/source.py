"""CloudTracks source format: readers, parsers and geometry (no Dagster here).

Layout (as used by the authors' development code; the Zenodo release may wrap it in an archive):

    train.csv, val.csv, test.csv   columns image, json, mask, contains_shiptrack (or the older images_only,
                                   jsons_only, masks_updated); paths relative to the root or absolute (the
                                   authors' CSVs hold absolute paths ending in <split>/<images|jsons|masks>/<name>)
    <split>/images/<id>.png|.jpg   the satellite image (RGB composite or grayscale)
    <split>/jsons/<id>.json        LabelMe JSON: imagePath (relative to the JSON as LabelMe writes it,
                                   `../images/<name>`; also a bare name or an absolute path), imageHeight,
                                   imageWidth, shapes[*] with label, points [[x, y], ...], shape_type
    <split>/masks/<id>.npy         optional mask (H, W): 0 background and either 1 for track (0/1, bool or
                                   0/255) or one instance id per track (1..k); empty `mask` cell when absent.
                                   A shipped mask is the ground truth (the authors binarise it with mask != 0);
                                   its agreement with the re-rasterised polygons is measured, not enforced.

A `polygon` shape is used as drawn. A `linestrip`/`line` shape is a ship-track centre line; it is buffered
into a polygon by `buffer_px` on each side (5 px by default, as `LineString.buffer(5)` in the predecessor
pipeline, duncanwp/shiptrack-detection `prepare_training_data.py`), so the track is 2 x buffer_px wide.

Every reader raises `SourceFormatError(file=..., rule=..., row=...)` on input it cannot interpret.
"""

from __future__ import annotations

import csv
import io
import json
import math
import posixpath
import re
from dataclasses import dataclass, field

import numpy as np
import polars as pl
from PIL import Image, ImageDraw

from dagster_project import records
from dagster_project.errors import SourceFormatError
from dagster_project.records import RemoteFile  # noqa: F401  (re-exported)

DATASET = "cloudtracks"
SPLITS = ("train", "val", "test")
SPLIT_COLUMNS = ("image", "json", "mask", "contains_shiptrack")
# Column names of an older variant of the authors' split CSVs (instance_seg.ipynb), mapped to current ones.
LEGACY_SPLIT_COLUMNS = {"images_only": "image", "jsons_only": "json", "masks_updated": "mask"}
EMPTY_CELLS = ("nan", "none", "null")
# Folder of each split-CSV column inside a split folder.
KIND_FOLDERS = {"image": "images", "json": "jsons", "mask": "masks"}
CATEGORY = "shiptrack"
DEFAULT_BUFFER_PX = 5.0
POLYGON_TYPES = ("polygon",)
LINE_TYPES = ("linestrip", "line")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")

ZENODO_RECORD_ID = "10042922"
ZENODO_RECORD_API = f"https://zenodo.org/api/records/{ZENODO_RECORD_ID}"

# Refuse absurd image sizes instead of letting PIL allocate gigabytes (MODIS granules are 1354 x 2030).
Image.MAX_IMAGE_PIXELS = 64_000_000


# ----------------------------------------------------------------------------------------------------
# Split CSVs


def read_split_csv(data: bytes, file: str, split: str) -> pl.DataFrame:
    """Parse a split CSV into split, source_file, source_row, image, json, mask (null if absent),
    contains_shiptrack.

    Paths are normalised to be relative to the dataset root: the authors' CSVs held absolute paths ending in
    `<split>/<images|jsons|masks>/<name>`, so an absolute path is cut down to that tail.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SourceFormatError(file, "split CSV is UTF-8 text", str(exc)) from exc
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise SourceFormatError(file, "split CSV has a header row", "file is empty") from None
    header = [LEGACY_SPLIT_COLUMNS.get(h.strip(), h.strip()) for h in header]
    missing = [c for c in SPLIT_COLUMNS if c not in header and c != "mask"]
    if missing:
        raise SourceFormatError(
            file,
            "split CSV has columns image, json, mask, contains_shiptrack",
            f"missing {missing}; got {header}",
        )
    idx = {c: header.index(c) for c in SPLIT_COLUMNS if c in header}
    rows: dict[str, list] = {c: [] for c in ("source_row", "image", "json", "mask", "contains_shiptrack")}
    for n, rec in enumerate(reader, start=1):  # row 1 = first data row (the header is row 0)
        if not rec or all(not v.strip() for v in rec):
            continue
        if len(rec) < len(header):
            raise SourceFormatError(file, "split CSV rows have one value per column", f"{rec!r}", row=n)
        rows["source_row"].append(n)
        rows["image"].append(normalise_relpath(rec[idx["image"]]))
        rows["json"].append(normalise_relpath(rec[idx["json"]]))
        mask = rec[idx["mask"]].strip() if "mask" in idx else ""
        # pandas writes a missing cell as "" (or "nan"/"None" after a round trip through an object column)
        rows["mask"].append(normalise_relpath(mask) if mask and mask.lower() not in EMPTY_CELLS else None)
        rows["contains_shiptrack"].append(_parse_bool(rec[idx["contains_shiptrack"]], file, n))
    return pl.DataFrame(
        {"split": [split] * len(rows["image"]), "source_file": [file] * len(rows["image"]), **rows},
        schema={
            "split": pl.String,
            "source_file": pl.String,
            "source_row": pl.Int64,
            "image": pl.String,
            "json": pl.String,
            "mask": pl.String,
            "contains_shiptrack": pl.Boolean,
        },
    )


def _parse_bool(value: str, file: str, row: int) -> bool:
    v = value.strip().lower()
    if v in ("true", "1", "1.0", "yes"):
        return True
    if v in ("false", "0", "0.0", "no"):
        return False
    raise SourceFormatError(file, "contains_shiptrack is True/False or 1/0", f"got {value!r}", row=row)


def _is_absolute(p: str) -> bool:
    return p.startswith("/") or re.match(r"^[A-Za-z]:/", p) is not None  # POSIX or Windows drive path


def _layout_tail(parts: list[str]) -> str | None:
    """`<split>/<images|jsons|masks>/<name...>` found inside a path's parts, or None."""
    for i in range(len(parts) - 2):
        if parts[i] in SPLITS and parts[i + 1] in KIND_FOLDERS.values():
            return "/".join(parts[i:])
    return None


def normalise_relpath(path: str) -> str:
    """A split-CSV path relative to the dataset root (see `read_split_csv`): an absolute path is cut down to its
    `<split>/<images|jsons|masks>/<name>` tail (else its file name); a relative one is normalised."""
    p = path.strip().replace("\\", "/")
    if _is_absolute(p):
        parts = [x for x in p.split("/") if x]
        return _layout_tail(parts) or parts[-1]
    return posixpath.normpath(p)


def resolve_listed_path(path: str, split: str, column: str, present: set[str]) -> tuple[str, str]:
    """Where a split-CSV path (already `normalise_relpath`-ed) is in the layout, and how it was found.

    Tried in order: the path as written (`as_written`); the `<split>/<folder>/<name>` tail inside it
    (`layout_tail`, e.g. a relative path written from a parent folder); the file of that name in the split's
    folder for the column (`split_folder`, e.g. a bare name or an absolute path from another machine). When none
    exists, the path as written is returned (`missing`) so that the existence rule names it.
    """
    if path in present:
        return path, "as_written"
    tail = _layout_tail(path.split("/"))
    if tail and tail in present:
        return tail, "layout_tail"
    in_split = f"{split}/{KIND_FOLDERS[column]}/{posixpath.basename(path)}"
    if in_split in present:
        return in_split, "split_folder"
    return path, "missing"


# ----------------------------------------------------------------------------------------------------
# LabelMe JSON


@dataclass(frozen=True)
class Shape:
    label: str
    shape_type: str
    points: np.ndarray  # (n, 2) float64, x then y, LabelMe pixel coordinates


@dataclass(frozen=True)
class LabelMe:
    image_path: str  # as written in the JSON (relative to the JSON's folder)
    height: int
    width: int
    shapes: list[Shape] = field(default_factory=list)


def parse_labelme(data: bytes, file: str) -> LabelMe:
    """Parse a LabelMe JSON. Polygons need >= 3 points, line strips >= 2; other shape types are refused."""
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SourceFormatError(file, "annotation is valid JSON", str(exc)) from exc
    if not isinstance(doc, dict):
        raise SourceFormatError(file, "annotation is a LabelMe JSON object", f"got {type(doc).__name__}")
    for key in ("imagePath", "imageHeight", "imageWidth", "shapes"):
        if key not in doc:
            raise SourceFormatError(file, f"LabelMe JSON has key '{key}'")
    try:
        height, width = int(doc["imageHeight"]), int(doc["imageWidth"])
    except (TypeError, ValueError) as exc:
        raise SourceFormatError(file, "imageHeight and imageWidth are integers", str(exc)) from exc
    shapes = []
    for i, s in enumerate(doc["shapes"]):
        where = f"shape {i}"
        shape_type = s.get("shape_type") or "polygon"  # LabelMe < 4 omitted it for polygons
        if shape_type not in POLYGON_TYPES + LINE_TYPES:
            raise SourceFormatError(
                file, "shape_type is polygon, linestrip or line", f"{where} has {shape_type!r}", row=i
            )
        try:
            pts = np.asarray(s["points"], dtype=np.float64)
        except (KeyError, TypeError, ValueError) as exc:
            raise SourceFormatError(
                file, "shape points are [[x, y], ...] numbers", f"{where}: {exc}", row=i
            ) from exc
        if pts.ndim != 2 or (len(pts) and pts.shape[1] != 2) or not np.isfinite(pts).all():
            raise SourceFormatError(
                file, "shape points are [[x, y], ...] numbers", f"{where}: {s['points']!r}", row=i
            )
        if shape_type in POLYGON_TYPES and len(pts) < 3:
            raise SourceFormatError(file, "polygon has at least 3 points", f"{where} has {len(pts)}", row=i)
        if shape_type in LINE_TYPES and len(pts) < 2:
            raise SourceFormatError(
                file, f"{shape_type} has at least 2 points", f"{where} has {len(pts)}", row=i
            )
        shapes.append(Shape(label=str(s.get("label", CATEGORY)), shape_type=shape_type, points=pts))
    return LabelMe(image_path=str(doc["imagePath"]), height=height, width=width, shapes=shapes)


def resolve_image_path(json_relpath: str, image_path: str) -> str:
    """Root-relative path of a LabelMe `imagePath` (LabelMe stores it relative to the JSON file's folder)."""
    p = image_path.strip().replace("\\", "/")
    if _is_absolute(p):
        return normalise_relpath(p)
    return posixpath.normpath(posixpath.join(posixpath.dirname(json_relpath), p))


def locate_json_image(
    json_relpath: str, image_path: str, present: set[str], row_image: str | None = None
) -> tuple[str, str]:
    """Where the image a LabelMe JSON names is, and how it was found.

    Tried in order: relative to the JSON's folder, as LabelMe writes it (`relative_to_json`; an absolute path is
    cut to its layout tail, `absolute`); the split's `images/` folder (`images_folder`: a bare name, or a path
    from the annotators' machine); the split-CSV row's own image when the file names agree (`csv_row`). An empty
    `imagePath` means the CSV row's image. When nothing exists, the first candidate is returned (`missing`).
    """
    p = image_path.strip().replace("\\", "/")
    if not p:
        return (row_image, "csv_row") if row_image in present else (row_image or "", "missing")
    first = resolve_image_path(json_relpath, p)
    candidates = [(first, "absolute" if _is_absolute(p) else "relative_to_json")]
    name = posixpath.basename(p)
    split_dir = posixpath.dirname(posixpath.dirname(json_relpath))
    candidates.append((posixpath.join(split_dir, "images", name), "images_folder"))
    if row_image and posixpath.basename(row_image) == name:
        candidates.append((row_image, "csv_row"))
    for path, how in candidates:
        if path in present:
            return path, how
    return first, "missing"


# ----------------------------------------------------------------------------------------------------
# Images and masks


def read_image(data: bytes, file: str) -> np.ndarray:
    """Decode a PNG/JPEG completely (a truncated file fails here, not later): (H, W) or (H, W, C) uint8."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            if img.mode not in ("L", "RGB", "RGBA", "P", "I;16", "I"):
                img = img.convert("RGB")
            if img.mode == "P":
                img = img.convert("RGB")
            arr = np.asarray(img)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise SourceFormatError(file, "image decodes completely (PNG/JPEG)", str(exc)) from exc
    if arr.dtype != np.uint8:  # 16-bit grayscale: scale to 8 bits, features only need relative brightness
        arr = (arr.astype(np.float64) / max(float(arr.max()), 1.0) * 255).astype(np.uint8)
    return arr


def read_mask(data: bytes, file: str) -> np.ndarray:
    """Load a `.npy` mask as stored (no pickles), (H, W); a singleton channel axis, (H, W, 1) or (1, H, W), is
    dropped. What its values mean is `mask_summary`'s job."""
    try:
        arr = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise SourceFormatError(file, "mask is a readable .npy array", str(exc)) from exc
    if arr.ndim == 3 and 1 in (arr.shape[0], arr.shape[2]):
        arr = arr[0] if arr.shape[0] == 1 else arr[:, :, 0]
    if arr.ndim != 2:
        raise SourceFormatError(file, "mask is a 2-D array (height, width)", f"shape {arr.shape}")
    return arr


def mask_is_binary(mask: np.ndarray) -> bool:
    if mask.dtype == np.bool_:
        return True
    return bool(np.isin(np.unique(mask), (0, 1)).all())


# What a shipped mask holds: `binary` (bool, 0/1 or 0/255: track or not), `instance_ids` (0 background and one
# positive integer per track), or `invalid` (negative, fractional or non-finite values, or not numeric).
MASK_KINDS = ("binary", "instance_ids", "invalid")
MAX_INSTANCE_ID = 65535  # instance masks travel as 16-bit PNG


@dataclass(frozen=True)
class MaskSummary:
    kind: str
    track_count: int | None  # distinct instance ids (instance masks only: a binary mask cannot count tracks)
    max_value: float | None


def mask_summary(mask: np.ndarray) -> MaskSummary:
    """Classify a mask's values without a per-pixel Python loop (one `bincount` for integer masks)."""
    if mask.dtype == np.bool_:
        return MaskSummary("binary", None, float(mask.any()))
    if not (np.issubdtype(mask.dtype, np.integer) or np.issubdtype(mask.dtype, np.floating)):
        return MaskSummary("invalid", None, None)
    if mask.size == 0:
        return MaskSummary("binary", None, 0.0)
    lo, hi = mask.min(), mask.max()
    if np.issubdtype(mask.dtype, np.floating):
        if not (np.isfinite(lo) and np.isfinite(hi)) or not np.array_equal(mask, np.floor(mask)):
            return MaskSummary("invalid", None, float(hi) if np.isfinite(hi) else None)
    if lo < 0 or hi > MAX_INSTANCE_ID:
        return MaskSummary("invalid", None, float(hi))
    if hi <= 1:
        return MaskSummary("binary", None, float(hi))
    counts = np.bincount(mask.ravel().astype(np.intp, copy=False), minlength=int(hi) + 1)
    ids = np.flatnonzero(counts[1:]) + 1
    if len(ids) == 1 and ids[0] == 255:  # 0/255: an 8-bit picture of a binary mask
        return MaskSummary("binary", None, float(hi))
    return MaskSummary("instance_ids", int(len(ids)), float(hi))


# ----------------------------------------------------------------------------------------------------
# Geometry


def _arc(center: np.ndarray, r: float, a0: float, a1: float, step: float = math.pi / 16) -> list[np.ndarray]:
    """Points on a circle from angle a0 to a1 (either direction), endpoints included."""
    n = max(1, math.ceil(abs(a1 - a0) / step))
    angles = np.linspace(a0, a1, n + 1)
    return list(center + r * np.stack([np.cos(angles), np.sin(angles)], axis=1))


def buffer_polyline(points: np.ndarray, distance: float = DEFAULT_BUFFER_PX) -> np.ndarray:
    """Outline of all points within `distance` of a polyline (round caps and joins, like shapely's buffer).

    Returns an (n, 2) ring (first point not repeated): left offset forward, round end cap, right offset
    backward (= left offset of the reversed line), round start cap. The inner side of a bend uses the mitre
    point of the two offset lines, exact while segments are longer than the buffer, which holds for ship-track
    centre lines (long, gently curved).
    """
    pts = np.asarray(points, dtype=np.float64)
    keep = np.r_[True, np.any(np.diff(pts, axis=0) != 0, axis=1)]  # drop repeated vertices
    pts = pts[keep]
    if len(pts) == 1:
        return np.asarray(_arc(pts[0], distance, 0.0, 2 * math.pi)[:-1])
    left = _left_offset(pts, distance)
    right = _left_offset(pts[::-1], distance)
    n_end = _normals(pts[-2:])[0]
    n_start = -_normals(pts[:2])[0]
    # Caps turn clockwise (decreasing angle) from one side to the other, through the travel direction.
    a_end, a_start = math.atan2(n_end[1], n_end[0]), math.atan2(n_start[1], n_start[0])
    end_cap = _arc(pts[-1], distance, a_end, a_end - math.pi)[1:-1]
    start_cap = _arc(pts[0], distance, a_start, a_start - math.pi)[1:-1]
    return np.asarray(left + end_cap + right + start_cap)


def _normals(pts: np.ndarray) -> np.ndarray:
    d = np.diff(pts, axis=0)
    u = d / np.linalg.norm(d, axis=1, keepdims=True)
    return np.stack([-u[:, 1], u[:, 0]], axis=1)  # u rotated by +90 degrees: the left normal


def _left_offset(pts: np.ndarray, distance: float) -> list[np.ndarray]:
    n = _normals(pts)
    out = [pts[0] + distance * n[0]]
    for k in range(1, len(pts) - 1):
        na, nb = n[k - 1], n[k]
        turn = na[0] * nb[1] - na[1] * nb[0]  # > 0: the line bends to the left, so the left side is inside
        cos = float(np.dot(na, nb))
        if turn < -1e-12:  # outer side: offset points separate, join them with an arc around the vertex
            out.extend(_arc(pts[k], distance, math.atan2(na[1], na[0]), _unwrap(na, nb)))
        elif cos > -0.9:  # inner side (or straight): the offset lines cross at the mitre point
            out.append(pts[k] + distance * (na + nb) / (1.0 + cos))
        else:  # hairpin: the mitre point would shoot far away; keep both offset points
            out.extend([pts[k] + distance * na, pts[k] + distance * nb])
    out.append(pts[-1] + distance * n[-1])
    return out


def _unwrap(na: np.ndarray, nb: np.ndarray) -> float:
    """Angle of nb, shifted by 2*pi so that the arc from na to nb takes the short way round."""
    a0, a1 = math.atan2(na[1], na[0]), math.atan2(nb[1], nb[0])
    while a1 - a0 > math.pi:
        a1 -= 2 * math.pi
    while a1 - a0 < -math.pi:
        a1 += 2 * math.pi
    return a1


def clip_polygon(points: np.ndarray, width: float, height: float) -> np.ndarray:
    """Clip a polygon to the image rectangle [0, width] x [0, height] (Sutherland-Hodgman; exact for any
    polygon against a convex window). Returns an empty (0, 2) array when nothing is inside."""
    pts = np.asarray(points, dtype=np.float64)
    if len(pts) and pts.min() >= 0 and pts[:, 0].max() <= width and pts[:, 1].max() <= height:
        return pts  # already inside: the common case, no per-vertex Python loop
    poly = [tuple(p) for p in pts]
    for axis, bound, keep_below in ((0, 0.0, False), (0, width, True), (1, 0.0, False), (1, height, True)):
        if not poly:
            break

        def inside(p, axis=axis, bound=bound, keep_below=keep_below):
            return p[axis] <= bound if keep_below else p[axis] >= bound

        out = []
        for i, cur in enumerate(poly):
            prev = poly[i - 1]
            if inside(cur):
                if not inside(prev):
                    out.append(_cross(prev, cur, axis, bound))
                out.append(cur)
            elif inside(prev):
                out.append(_cross(prev, cur, axis, bound))
        poly = out
    return np.asarray(poly, dtype=np.float64).reshape(-1, 2)


def _cross(p, q, axis: int, bound: float) -> tuple[float, float]:
    t = (bound - p[axis]) / (q[axis] - p[axis])
    x, y = p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1])
    return (bound, y) if axis == 0 else (x, bound)


def shape_polygon(shape: Shape, buffer_px: float = DEFAULT_BUFFER_PX) -> np.ndarray:
    """The instance polygon of a shape: as drawn for polygons, buffered centre line for line strips."""
    if shape.shape_type in LINE_TYPES:
        return buffer_polyline(shape.points, buffer_px)
    return shape.points


def polygon_area(points: np.ndarray) -> float:
    x, y = points[:, 0], points[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2.0)


def polygon_perimeter(points: np.ndarray) -> float:
    return float(np.linalg.norm(points - np.roll(points, -1, axis=0), axis=1).sum())


def polyline_length(points: np.ndarray) -> float:
    return float(np.linalg.norm(np.diff(points, axis=0), axis=1).sum())


def strip_length_width(points: np.ndarray) -> tuple[float, float]:
    """Length and width of an elongated polygon, treating it as a strip: area = L*w, perimeter = 2(L + w)."""
    a, p = polygon_area(points), polygon_perimeter(points)
    half = p / 2.0
    disc = max(half * half - 4.0 * a, 0.0)
    length = (half + math.sqrt(disc)) / 2.0
    return length, (a / length if length > 0 else 0.0)


def rasterise(polygons: list[np.ndarray], height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Semantic (uint8 0/1) and instance (uint16, 0 = background, i+1 = polygon i) masks.

    Filled like LabelMe's `shape_to_mask` (PIL polygon with outline). Where tracks overlap, the later
    instance owns the pixel in the instance mask; the semantic mask is their union.
    """
    instance = Image.new("I", (width, height), 0)
    semantic = Image.new("L", (width, height), 0)
    draw_i, draw_s = ImageDraw.Draw(instance), ImageDraw.Draw(semantic)
    for i, poly in enumerate(polygons):
        if len(poly) < 3:
            continue
        xy = [tuple(p) for p in poly]
        draw_i.polygon(xy, fill=i + 1, outline=i + 1)
        draw_s.polygon(xy, fill=1, outline=1)
    return np.asarray(semantic, dtype=np.uint8), np.asarray(instance).astype(np.uint16)


def rasterise_semantic(polygons: list[np.ndarray], height: int, width: int) -> np.ndarray:
    """The semantic mask of `rasterise` alone (one 8-bit canvas: a quarter of the instance canvas's memory)."""
    semantic = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(semantic)
    for poly in polygons:
        if len(poly) >= 3:
            draw.polygon([tuple(p) for p in poly], fill=1, outline=1)
    return np.asarray(semantic, dtype=np.uint8)


def image_masks(
    polygons: list[np.ndarray], height: int, width: int, shipped: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, int, str]:
    """Ground-truth masks of one image: semantic (uint8 0/1), instance (uint16, 0 = background), the track
    count, and where they came from.

    A shipped mask is the truth: its non-zero pixels are the tracks (as the authors binarise it). If it holds
    instance ids, they are kept as the instance mask and their number is the track count (`npy_instance_ids`);
    a 0/1 mask gives the semantic mask only, instances and count then come from the polygons (`npy_binary`).
    Without a mask, both are the rasterised polygons (`polygons`).
    """
    if shipped is not None:
        summary = mask_summary(shipped)
        semantic = (shipped != 0).astype(np.uint8)
        if summary.kind == "instance_ids":
            return semantic, shipped.astype(np.uint16), int(summary.track_count), "npy_instance_ids"
        _, instance = rasterise(polygons, height, width)
        return semantic, instance, len(polygons), "npy_binary"
    semantic, instance = rasterise(polygons, height, width)
    return semantic, instance, len(polygons), "polygons"


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two binary masks; 1.0 when both are empty (they agree)."""
    a, b = a.astype(bool), b.astype(bool)
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


# ----------------------------------------------------------------------------------------------------
# Zenodo release


def zenodo_files(record: dict, api_base: str) -> list[RemoteFile]:
    """The files of a Zenodo record, from either `GET /api/records/<id>` (`files`: list) or
    `GET /api/records/<id>/files` (`entries`: list). Checksums are Zenodo's `md5:<hex>`; a file without a link
    is downloaded from the files API (`<api_base>/files/<key>/content`)."""
    return records.parse_record(record, api_base, api_base=api_base)


# ----------------------------------------------------------------------------------------------------
# The whole layout -> image table + instance table

IMAGE_SCHEMA = {
    "image_id": pl.String,
    "split": pl.String,
    "source_file": pl.String,
    "source_row": pl.Int64,
    "image_file": pl.String,
    "json_file": pl.String,
    "mask_file": pl.String,
    "image_exists": pl.Boolean,
    "json_exists": pl.Boolean,
    "mask_exists": pl.Boolean,
    "json_image_file": pl.String,
    "json_image_exists": pl.Boolean,
    "height": pl.Int64,
    "width": pl.Int64,
    "channels": pl.Int64,
    "json_height": pl.Int64,
    "json_width": pl.Int64,
    "size_matches_json": pl.Boolean,
    "mask_height": pl.Int64,
    "mask_width": pl.Int64,
    "mask_shape_matches": pl.Boolean,
    "mask_kind": pl.String,
    "mask_binary": pl.Boolean,
    "mask_values_valid": pl.Boolean,
    "mask_track_count": pl.Int64,
    "mask_polygon_iou": pl.Float64,
    "mask_source": pl.String,
    "image_found_by": pl.String,
    "json_found_by": pl.String,
    "mask_found_by": pl.String,
    "json_image_found_by": pl.String,
    "track_count": pl.Int64,
    "true_track_count": pl.Int64,
    "has_tracks": pl.Boolean,
    "contains_shiptrack": pl.Boolean,
    "track_pixels": pl.Int64,
    "mean_intensity": pl.Float64,
}

INSTANCE_SCHEMA = {
    "image_id": pl.String,
    "split": pl.String,
    "instance_id": pl.Int64,
    "source_file": pl.String,
    "source_row": pl.Int64,
    "label": pl.String,
    "shape_type": pl.String,
    "n_points": pl.Int64,
    "points_x": pl.List(pl.Float64),
    "points_y": pl.List(pl.Float64),
    "out_of_bounds_px": pl.Float64,
    "polygon_x": pl.List(pl.Float64),
    "polygon_y": pl.List(pl.Float64),
    "length_px": pl.Float64,
    "width_px": pl.Float64,
    "area_px": pl.Float64,
    "bbox_x_min": pl.Float64,
    "bbox_y_min": pl.Float64,
    "bbox_x_max": pl.Float64,
    "bbox_y_max": pl.Float64,
    "image_width": pl.Int64,
    "image_height": pl.Int64,
}


def locate_root(files: list[str], base: str) -> str:
    """The folder (under `base`) that holds the split CSVs; the shallowest one if an archive nests it."""
    base = base.rstrip("/")
    csvs = [f for f in files if posixpath.basename(f) in {f"{s}.csv" for s in SPLITS}]
    if not csvs:
        raise SourceFormatError(base, "dataset root has train.csv, val.csv or test.csv", "no split CSV found")
    return min((posixpath.dirname(f) for f in csvs), key=lambda d: (d.count("/"), d))


def layout_root(fs, base: str) -> str:
    """The dataset root (folder of the split CSVs) under `base`, as a path of `fs`."""
    return locate_root(list(fs.find(base)), base)


def read_layout(fs, base: str, *, buffer_px: float = DEFAULT_BUFFER_PX) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Read every split CSV row: its image, LabelMe JSON and optional mask, into an image table (one row per
    split row) and an instance table (one row per annotated track).

    Files that are missing are recorded (`*_exists` = false) so that the checks can name them; files that
    exist but cannot be interpreted (truncated image, invalid JSON, polygon with < 3 points) raise
    `SourceFormatError` naming the file and rule. `fs` is any fsspec filesystem (local, S3, a zip archive).
    """
    files = list(fs.find(base))
    root = locate_root(files, base)
    # `present` is relative to the root: one listing answers every "does this file exist" question (on S3 a
    # HEAD request per file would dominate the run time).
    present = {f[len(root) + 1 :] for f in files if f.startswith(root + "/")}
    image_rows: list[dict] = []
    instance_rows: list[dict] = []
    for split in SPLITS:
        csv_rel = f"{split}.csv"
        if csv_rel not in present:
            continue
        table = read_split_csv(fs.cat_file(f"{root}/{csv_rel}"), csv_rel, split)
        for row in table.iter_rows(named=True):
            img_row, inst = _read_row(fs, root, present, row, buffer_px)
            image_rows.append(img_row)
            instance_rows.extend(inst)
    images = (
        pl.DataFrame(image_rows, schema=IMAGE_SCHEMA, orient="row")
        if image_rows
        else pl.DataFrame(schema=IMAGE_SCHEMA)
    )
    instances = (
        pl.DataFrame(instance_rows, schema=INSTANCE_SCHEMA, orient="row")
        if instance_rows
        else (pl.DataFrame(schema=INSTANCE_SCHEMA))
    )
    return images, instances


def _stem(path: str) -> str:
    name = posixpath.basename(path)
    for suffix in IMAGE_SUFFIXES + (".json", ".npy"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def _read_row(fs, root: str, present: set[str], row: dict, buffer_px: float) -> tuple[dict, list[dict]]:
    split = row["split"]
    image_rel, image_how = resolve_listed_path(row["image"], split, "image", present)
    json_rel, json_how = resolve_listed_path(row["json"], split, "json", present)
    mask_rel, mask_how = (
        resolve_listed_path(row["mask"], split, "mask", present) if row["mask"] else (None, None)
    )
    rec = {k: None for k in IMAGE_SCHEMA}
    rec.update(
        image_id=_stem(image_rel),
        split=split,
        source_file=row["source_file"],
        source_row=row["source_row"],
        image_file=image_rel,
        json_file=json_rel,
        mask_file=mask_rel,
        image_exists=image_how != "missing",
        json_exists=json_how != "missing",
        mask_exists=(mask_how != "missing") if mask_rel else None,
        image_found_by=image_how,
        json_found_by=json_how,
        mask_found_by=mask_how,
        contains_shiptrack=row["contains_shiptrack"],
        mask_source="npy" if mask_rel else "polygons",
    )
    image = read_image(fs.cat_file(f"{root}/{image_rel}"), image_rel) if rec["image_exists"] else None
    if image is not None:
        rec.update(
            height=image.shape[0],
            width=image.shape[1],
            channels=1 if image.ndim == 2 else image.shape[2],
            mean_intensity=float(image.mean()),
        )
        del image  # a full granule is ~8 MB: keep only its summary
    ann = parse_labelme(fs.cat_file(f"{root}/{json_rel}"), json_rel) if rec["json_exists"] else None
    instances: list[dict] = []
    polygons: list[np.ndarray] = []
    if ann is not None:
        found, how = locate_json_image(json_rel, ann.image_path, present, image_rel)
        rec.update(json_image_file=found, json_image_found_by=how, json_image_exists=how != "missing")
        rec.update(json_height=ann.height, json_width=ann.width, track_count=len(ann.shapes))
        rec["true_track_count"] = len(ann.shapes)
        rec["has_tracks"] = len(ann.shapes) > 0
        # Bounds are the image's real size when we have it, else what the JSON claims.
        h, w = (rec["height"], rec["width"]) if rec["height"] is not None else (ann.height, ann.width)
        for i, shape in enumerate(ann.shapes):
            poly = clip_polygon(shape_polygon(shape, buffer_px), w, h)
            polygons.append(poly)
            instances.append(_instance_row(rec, json_rel, i, shape, poly, w, h, buffer_px))
    if rec["height"] is not None and ann is not None:
        rec["size_matches_json"] = (ann.height, ann.width) == (rec["height"], rec["width"])
    if rec["height"] is not None or ann is not None:
        h = rec["height"] if rec["height"] is not None else rec["json_height"]
        w = rec["width"] if rec["width"] is not None else rec["json_width"]
        semantic = rasterise_semantic(polygons, h, w)
        rec["track_pixels"] = int(np.count_nonzero(semantic))
        if mask_rel and rec["mask_exists"]:
            mask = read_mask(fs.cat_file(f"{root}/{mask_rel}"), mask_rel)
            summary = mask_summary(mask)
            rec.update(
                mask_height=mask.shape[0],
                mask_width=mask.shape[1],
                mask_kind=summary.kind,
                mask_binary=summary.kind == "binary",
                mask_values_valid=summary.kind != "invalid",
                mask_track_count=summary.track_count,
            )
            if summary.track_count is not None:  # the instance ids count the tracks (the mask is the truth)
                rec["true_track_count"] = summary.track_count
            rec["mask_shape_matches"] = mask.shape == (h, w)
            if rec["mask_shape_matches"] and summary.kind != "invalid":
                rec["mask_polygon_iou"] = mask_iou(mask != 0, semantic)
    return rec, instances


def _instance_row(
    img: dict, json_rel: str, i: int, shape: Shape, poly: np.ndarray, w: int, h: int, buffer_px: float
) -> dict:
    pts = shape.points
    overshoot = max(-pts[:, 0].min(), -pts[:, 1].min(), pts[:, 0].max() - w, pts[:, 1].max() - h, 0.0)
    if shape.shape_type in LINE_TYPES:
        length, width = polyline_length(pts), 2.0 * buffer_px
    else:
        length, width = strip_length_width(poly) if len(poly) >= 3 else (0.0, 0.0)
    has = len(poly) > 0
    return {
        "image_id": img["image_id"],
        "split": img["split"],
        "instance_id": i,
        "source_file": json_rel,
        "source_row": i,
        "label": shape.label,
        "shape_type": shape.shape_type,
        "n_points": len(pts),
        "points_x": pts[:, 0].tolist(),
        "points_y": pts[:, 1].tolist(),
        "out_of_bounds_px": float(overshoot),
        "polygon_x": poly[:, 0].tolist(),
        "polygon_y": poly[:, 1].tolist(),
        "length_px": float(length),
        "width_px": float(width),
        "area_px": polygon_area(poly) if len(poly) >= 3 else 0.0,
        "bbox_x_min": float(poly[:, 0].min()) if has else None,
        "bbox_y_min": float(poly[:, 1].min()) if has else None,
        "bbox_x_max": float(poly[:, 0].max()) if has else None,
        "bbox_y_max": float(poly[:, 1].max()) if has else None,
        "image_width": w,
        "image_height": h,
    }
