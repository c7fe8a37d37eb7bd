"""PCB-Vision source format: ENVI hyperspectral cubes and masks, JPEG/PNG images, the authors' splits, and the
remote record layout. Pure functions, no Dagster.

On-disk layout (the authors' `dataset_functions.read_dataset`, boards numbered 1..53)::

    HSI/pcb{i}/pcb{i}.hdr + HSI/pcb{i}/pcb{i}        ENVI cube, 224 VNIR bands (Specim FX10), BIP
    HSI/General_masks/{i}.HDR + {i}                  ENVI single-band class mask (note the upper-case .HDR)
    HSI/Monoseg_masks/mono{i}.hdr + mono{i}          ENVI single-band class mask
    HSI/PCB_Masks/{i}.jpg                            grey JPEG, PCB foreground (white) vs background (black)
    RGB/{i}.jpg                                      RGB photograph (Teledyne Dalsa C4020)
    RGB/General/{i}.png, RGB/Monoseg/{i}.png         RGB class masks

The ENVI data file is the header path with its 4-character extension (".hdr"/".HDR") stripped, as the authors'
readers do. Cubes are read memory-mapped (local files) or by ranged reads of whole lines (object stores), a
block of lines at a time, so a board never has to fit in memory twice and boards are never loaded together.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import fsspec
import numpy as np
import polars as pl
from fsspec.implementations.local import LocalFileSystem

from dagster_project.errors import SourceFormatError
from dagster_project.records import (  # noqa: F401  (the record helpers, re-exported for this dataset)
    RemoteFile,
    parse_record_files,
    record_api_url,
    unpack_archive,
)

N_BANDS = 224
CLASSES: dict[int, str] = {0: "others", 1: "IC", 2: "capacitor", 3: "connectors"}
N_BOARDS = 53

# The authors' HSI split (HSI_patches_generation.ipynb, "33% training - 5% Validation - 56% Testing").
# Boards 4 and 35 are in none of the three lists.
HSI_SPLITS: dict[str, tuple[int, ...]] = {
    "train": (1, 3, 8, 11, 17, 22, 23, 24, 25, 32, 34, 44, 45, 47, 49, 50, 52, 53),
    "val": (18, 37, 42),
    "test": (2, 5, 6, 7, 9, 10, 12, 13, 14, 15, 16, 19, 20, 21, 26, 27, 28, 29, 30, 31, 33, 36, 38, 39, 40,
             41, 43, 46, 48, 51),
}  # fmt: skip
NO_SPLIT = "none"

# ENVI "data type" codes this reader supports (real numbers). Complex types (6, 9) are not reflectance.
ENVI_DTYPES: dict[int, str] = {
    1: "u1",
    2: "i2",
    3: "i4",
    4: "f4",
    5: "f8",
    12: "u2",
    13: "u4",
    14: "i8",
    15: "u8",
}
INTERLEAVES = ("bip", "bil", "bsq")
REQUIRED_KEYS = ("samples", "lines", "bands", "data type", "interleave")

# Remote copies of the published data (Invenio records: a JSON API lists each file with its checksum).
ZENODO_RECORD_URL = "https://zenodo.org/records/10617721"
RODARE_RECORD_URL = "https://rodare.hzdr.de/record/2704"
DEFAULT_REMOTE = ZENODO_RECORD_URL


def rgb_splits() -> dict[str, tuple[int, ...]]:
    """The authors' RGB split (RGB.ipynb), documented separately from the HSI one: sklearn
    `train_test_split(test_size=0.2, random_state=123)` on boards 1..53, then again on the remainder for
    validation, giving 33 / 9 / 11 boards. Assumes the notebook passes the boards in order 1..53."""
    from sklearn.model_selection import train_test_split

    boards = list(range(1, N_BOARDS + 1))
    rest, test = train_test_split(boards, test_size=0.2, random_state=123)
    train, val = train_test_split(rest, test_size=0.2, random_state=123)
    return {"train": tuple(sorted(train)), "val": tuple(sorted(val)), "test": tuple(sorted(test))}


def hsi_split(board: int) -> str:
    """The authors' HSI split of a board: train / val / test, or 'none' (boards 4 and 35)."""
    for name, boards in HSI_SPLITS.items():
        if board in boards:
            return name
    return NO_SPLIT


@dataclass(frozen=True)
class BoardFiles:
    """Relative paths of every file of one board in the published layout."""

    board: int

    @property
    def cube_hdr(self) -> str:
        return f"HSI/pcb{self.board}/pcb{self.board}.hdr"

    @property
    def general_hdr(self) -> str:
        return f"HSI/General_masks/{self.board}.HDR"

    @property
    def monoseg_hdr(self) -> str:
        return f"HSI/Monoseg_masks/mono{self.board}.hdr"

    @property
    def pcb_mask_jpg(self) -> str:
        return f"HSI/PCB_Masks/{self.board}.jpg"

    @property
    def rgb_jpg(self) -> str:
        return f"RGB/{self.board}.jpg"

    @property
    def rgb_general_png(self) -> str:
        return f"RGB/General/{self.board}.png"

    @property
    def rgb_monoseg_png(self) -> str:
        return f"RGB/Monoseg/{self.board}.png"

    def all(self) -> list[str]:
        """Every file, headers with their data files."""
        hdrs = [self.cube_hdr, self.general_hdr, self.monoseg_hdr]
        return [p for h in hdrs for p in (h, data_path_for(h))] + [
            self.pcb_mask_jpg,
            self.rgb_jpg,
            self.rgb_general_png,
            self.rgb_monoseg_png,
        ]


def data_path_for(hdr_path: str) -> str:
    """ENVI data file of a header: the header path without its 4-character extension (the authors' rule)."""
    if not hdr_path.lower().endswith(".hdr"):
        raise SourceFormatError(hdr_path, "ENVI header has a .hdr extension", "cannot derive the data file")
    return hdr_path[:-4]


def header_variants(hdr_path: str) -> list[str]:
    """The spellings of a header's extension the published data uses: as given, then .hdr, .HDR, .Hdr."""
    stem = data_path_for(hdr_path)
    return list(dict.fromkeys([hdr_path, f"{stem}.hdr", f"{stem}.HDR", f"{stem}.Hdr"]))


def resolve_header(fs, root: str, hdr_rel: str) -> str | None:
    """The relative path of a header as it exists under `root`, whatever the case of its extension, or None."""
    for rel in header_variants(hdr_rel):
        if fs.exists(f"{root}/{rel}"):
            return rel
    return None


def partition_key(board: int) -> str:
    return f"pcb{board}"


def board_of(partition: str) -> int:
    m = re.fullmatch(r"pcb(\d+)", partition)
    if not m:
        raise ValueError(f"{partition!r} is not a PCB-Vision board partition (expected 'pcb<N>')")
    return int(m.group(1))


# Header extensions come in either case in the published data (cube `.hdr`, General masks `.HDR`).
_CUBE_HDR = re.compile(r"(?:^|/)HSI/pcb(\d+)/pcb(\d+)\.(?i:hdr)$")


_BOARD_FILE = re.compile(
    r"(?:^|/)(?:HSI/pcb(\d+)/pcb\d+(?:\.hdr)?|HSI/General_masks/(\d+)(?:\.HDR)?|HSI/Monoseg_masks/mono(\d+)(?:\.hdr)?"
    r"|HSI/PCB_Masks/(\d+)\.jpg|RGB/(\d+)\.jpg|RGB/(?:General|Monoseg)/(\d+)\.png)$",
    re.IGNORECASE,
)


def board_of_file(relpath: str) -> int | None:
    """The board a file of the published layout belongs to, or None for anything else (archives, READMEs)."""
    m = _BOARD_FILE.search(relpath)
    return int(next(g for g in m.groups() if g)) if m else None


def boards_in(relpaths: list[str]) -> list[int]:
    """Board numbers whose cube header is among `relpaths` (folder name and file name must agree)."""
    found = set()
    for rel in relpaths:
        m = _CUBE_HDR.search(rel)
        if m and m.group(1) == m.group(2):
            found.add(int(m.group(1)))
    return sorted(found)


# ---------------------------------------------------------------------------------------------------- ENVI


@dataclass(frozen=True)
class EnviHeader:
    """The ENVI header fields this platform relies on. `fields` keeps every key (lower-cased) as text."""

    file: str
    samples: int
    lines: int
    bands: int
    header_offset: int
    data_type: int
    interleave: str
    byte_order: int
    wavelengths: tuple[float, ...] | None
    reflectance_scale: float | None
    fields: dict[str, str] = field(repr=False, compare=False)

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(ENVI_DTYPES[self.data_type]).newbyteorder(">" if self.byte_order == 1 else "<")

    @property
    def shape(self) -> tuple[int, int, int]:
        """(lines, samples, bands): rows, columns, spectral bands."""
        return (self.lines, self.samples, self.bands)

    @property
    def data_bytes(self) -> int:
        return self.lines * self.samples * self.bands * self.dtype.itemsize

    @property
    def expected_file_size(self) -> int:
        return self.header_offset + self.data_bytes


def parse_envi_header(text: str, file: str) -> EnviHeader:
    """Parse ENVI header text. Keys are case-insensitive (the published mask headers mix case); `{...}` values
    may span lines. Raises SourceFormatError naming the file and the broken rule."""
    lines = text.splitlines()
    if not lines or lines[0].strip().upper() != "ENVI":
        raise SourceFormatError(file, "ENVI header starts with 'ENVI'", f"first line is {lines[:1]!r}")
    fields: dict[str, str] = {}
    i = 1
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line.strip() or line.lstrip().startswith(";"):
            continue
        if "=" not in line:
            raise SourceFormatError(file, "ENVI header line is 'key = value'", f"line {i}: {line!r}", row=i)
        key, value = (s.strip() for s in line.split("=", 1))
        if value.startswith("{"):
            start = i
            while "}" not in value:
                if i >= len(lines):
                    raise SourceFormatError(
                        file, "ENVI header braces are closed", f"'{key}' opened on line {start}"
                    )
                value += " " + lines[i].strip()
                i += 1
            value = value[1 : value.index("}")].strip()
        fields[key.lower()] = value
    missing = [k for k in REQUIRED_KEYS if k not in fields]
    if missing:
        raise SourceFormatError(file, "required ENVI header keys present", f"missing {missing}")

    def integer(key: str, default: int | None = None) -> int:
        raw = fields.get(key)
        if raw is None:
            assert default is not None
            return default
        try:
            return int(raw)
        except ValueError:
            raise SourceFormatError(file, f"ENVI '{key}' is an integer", f"got {raw!r}") from None

    samples, lines_, bands = integer("samples"), integer("lines"), integer("bands")
    if min(samples, lines_, bands) <= 0:
        raise SourceFormatError(file, "ENVI dimensions are positive", f"{lines_=} {samples=} {bands=}")
    data_type = integer("data type")
    if data_type not in ENVI_DTYPES:
        raise SourceFormatError(
            file, "supported ENVI data type", f"data type = {data_type}; supported: {sorted(ENVI_DTYPES)}"
        )
    interleave = fields["interleave"].strip().lower()
    if interleave not in INTERLEAVES:
        raise SourceFormatError(
            file, "supported ENVI interleave", f"interleave = {interleave!r}; supported: {INTERLEAVES}"
        )
    byte_order = integer("byte order", 0)
    if byte_order not in (0, 1):
        raise SourceFormatError(file, "ENVI byte order is 0 or 1", f"byte order = {byte_order}")
    wavelengths = None
    if "wavelength" in fields:
        try:
            wavelengths = tuple(float(w) for w in fields["wavelength"].split(",") if w.strip())
        except ValueError:
            raise SourceFormatError(file, "ENVI wavelengths are numbers", fields["wavelength"][:80]) from None
        if len(wavelengths) != bands:
            raise SourceFormatError(
                file, "one wavelength per band", f"{len(wavelengths)} wavelengths for {bands} bands"
            )
    scale = None
    if "reflectance scale factor" in fields:
        scale = float(fields["reflectance scale factor"])
    return EnviHeader(
        file=file,
        samples=samples,
        lines=lines_,
        bands=bands,
        header_offset=integer("header offset", 0),
        data_type=data_type,
        interleave=interleave,
        byte_order=byte_order,
        wavelengths=wavelengths,
        reflectance_scale=scale,
        fields=fields,
    )


def format_envi_header(
    *,
    samples: int,
    lines: int,
    bands: int,
    data_type: int,
    interleave: str = "bip",
    byte_order: int = 0,
    header_offset: int = 0,
    description: str = "",
    wavelengths: np.ndarray | None = None,
    extra: dict[str, str] | None = None,
    key_case=str.lower,
) -> str:
    """ENVI header text with the standard keys (for the sample writer and tests that corrupt headers)."""
    kv = [
        ("description", "{" + description + "}"),
        ("samples", str(samples)),
        ("lines", str(lines)),
        ("bands", str(bands)),
        ("header offset", str(header_offset)),
        ("file type", "ENVI Standard"),
        ("data type", str(data_type)),
        ("interleave", interleave),
        ("byte order", str(byte_order)),
    ]
    kv += list((extra or {}).items())
    if wavelengths is not None:
        kv.append(("wavelength units", "Nanometers"))
        wl = [f"{w:.2f}" for w in wavelengths]
        rows = [", ".join(wl[i : i + 8]) for i in range(0, len(wl), 8)]
        kv.append(("wavelength", "{\n " + ",\n ".join(rows) + "}"))
    return "ENVI\n" + "".join(f"{key_case(k)} = {v}\n" for k, v in kv)


class EnviImage:
    """An ENVI image on any fsspec filesystem, read a block of lines at a time.

    Local files are numpy-memory-mapped (nothing is read until sliced). Remote files (S3) are read with ranged
    requests of whole lines (BIP/BIL lines are contiguous; BSQ needs one range per band). The header's size is
    checked against the data file before any read.
    """

    def __init__(self, fs: fsspec.AbstractFileSystem, hdr_path: str, *, display_path: str | None = None):
        self.fs = fs
        self.hdr_path = hdr_path
        self.data_path = data_path_for(hdr_path)
        self.display_hdr = display_path or hdr_path
        self.display_data = data_path_for(self.display_hdr)
        if not fs.exists(hdr_path):
            raise SourceFormatError(self.display_hdr, "file present", "ENVI header not found")
        with fs.open(hdr_path, "rb") as f:
            raw = f.read()
        try:
            text = raw.decode("ascii")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
        self.header = parse_envi_header(text, self.display_hdr)
        if not fs.exists(self.data_path):
            raise SourceFormatError(
                self.display_data, "file present", f"ENVI data file for {self.display_hdr}"
            )
        size = fs.size(self.data_path)
        if size != self.header.expected_file_size:
            h = self.header
            raise SourceFormatError(
                self.display_data,
                "header size matches data file",
                f"{self.display_hdr} declares {h.lines} lines x {h.samples} samples x {h.bands} bands x "
                f"{h.dtype.itemsize} bytes + offset {h.header_offset} = {h.expected_file_size} bytes, "
                f"the data file has {size} bytes",
            )

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.header.shape

    @property
    def is_local(self) -> bool:
        """Local files are memory-mapped; other filesystems are read with ranged reads of whole lines."""
        return isinstance(self.fs, LocalFileSystem)

    def _open_memmap(self) -> np.ndarray:
        h = self.header
        storage_shape = {
            "bip": (h.lines, h.samples, h.bands),
            "bil": (h.lines, h.bands, h.samples),
            "bsq": (h.bands, h.lines, h.samples),
        }[h.interleave]
        return np.memmap(self.data_path, dtype=h.dtype, mode="r", offset=h.header_offset, shape=storage_shape)

    def read_lines(self, start: int, stop: int) -> np.ndarray:
        """Lines [start, stop) as a native-endian array (n_lines, samples, bands) in the file's data type.

        Always a fresh array: BIP/BIL lines are read with one plain read; BSQ through a memory map opened for
        this call only and dropped on return, so the pages it touched leave the process's resident memory with
        it (a map kept open would grow to the whole cube)."""
        h = self.header
        stop = min(stop, h.lines)
        n = stop - start
        if self.is_local and h.interleave in ("bip", "bil"):  # whole lines are contiguous: one plain read
            count = n * h.samples * h.bands
            offset = h.header_offset + start * h.samples * h.bands * h.dtype.itemsize
            buf = np.fromfile(self.data_path, dtype=h.dtype, count=count, offset=offset)
            if h.interleave == "bip":
                block = buf.reshape(n, h.samples, h.bands)
            else:
                block = buf.reshape(n, h.bands, h.samples).transpose(0, 2, 1)
            return np.ascontiguousarray(block, dtype=h.dtype.newbyteorder("="))
        if self.is_local:
            mm = self._open_memmap()
            block = {
                "bip": lambda: mm[start:stop],
                "bil": lambda: mm[start:stop].transpose(0, 2, 1),
                "bsq": lambda: mm[:, start:stop].transpose(1, 2, 0),
            }[h.interleave]()
            out = np.array(block, dtype=h.dtype.newbyteorder("="), order="C", copy=True)
            del block, mm
            return out
        item = h.dtype.itemsize
        with self.fs.open(self.data_path, "rb") as f:
            if h.interleave in ("bip", "bil"):
                line_bytes = h.samples * h.bands * item
                f.seek(h.header_offset + start * line_bytes)
                buf = np.frombuffer(f.read(n * line_bytes), dtype=h.dtype)
                if h.interleave == "bip":
                    block = buf.reshape(n, h.samples, h.bands)
                else:
                    block = buf.reshape(n, h.bands, h.samples).transpose(0, 2, 1)
            else:
                band_bytes = h.lines * h.samples * item
                planes = []
                for b in range(h.bands):
                    f.seek(h.header_offset + b * band_bytes + start * h.samples * item)
                    planes.append(np.frombuffer(f.read(n * h.samples * item), dtype=h.dtype))
                block = np.stack(planes, axis=-1).reshape(n, h.samples, h.bands)
        return np.ascontiguousarray(block, dtype=h.dtype.newbyteorder("="))

    def iter_blocks(self, block_lines: int) -> Iterator[tuple[int, np.ndarray]]:
        """(first line, block) pairs covering the image, `block_lines` lines at a time."""
        for start in range(0, self.header.lines, block_lines):
            yield start, self.read_lines(start, start + block_lines)

    def read_all(self) -> np.ndarray:
        return self.read_lines(0, self.header.lines)


def open_cube(fs, hdr_path: str, *, display_path: str | None = None, n_bands: int = N_BANDS) -> EnviImage:
    """Open a board's hyperspectral cube (not read yet) and check its band count."""
    img = EnviImage(fs, hdr_path, display_path=display_path)
    if img.header.bands != n_bands:
        raise SourceFormatError(
            img.display_hdr, f"cube has {n_bands} bands", f"header declares bands = {img.header.bands}"
        )
    return img


def read_mask(fs, hdr_path: str, *, display_path: str | None = None) -> np.ndarray:
    """A class mask (lines, samples) as uint8: band 0 of a single-band ENVI image (the authors' y[:, :, 0]).

    Values must be whole numbers 0..255 to be stored; whether they are valid class ids (0..3) is a validation
    rule checked on the pixel table, so that a bad mask is reported with the offending pixels.
    """
    img = EnviImage(fs, hdr_path, display_path=display_path)
    band = img.read_all()[:, :, 0]
    if band.dtype.kind == "f":
        bad = ~np.isfinite(band) | (band != np.round(band))
        if bad.any():
            r, c = np.argwhere(bad)[0]
            raise SourceFormatError(
                img.display_data, "mask values are whole numbers", f"line {r}, sample {c}: {band[r, c]!r}"
            )
    if band.size and (band.min() < 0 or band.max() > 255):
        r, c = np.argwhere((band < 0) | (band > 255))[0]
        raise SourceFormatError(
            img.display_data, "mask values fit in 0..255", f"line {r}, sample {c}: {band[r, c]!r}"
        )
    return band.astype(np.uint8)


# ---------------------------------------------------------------------------------------------------- images


def _open_image(data: bytes, file: str, fmt: str):
    from PIL import Image, UnidentifiedImageError

    try:
        img = Image.open(io.BytesIO(data))
        if img.format != fmt:
            raise SourceFormatError(file, f"file is a {fmt}", f"decoded as {img.format}")
        img.load()  # decode now: a truncated or corrupt file fails here, not later
    except SourceFormatError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise SourceFormatError(file, f"decodable {fmt}", f"{type(exc).__name__}: {exc}") from None
    return img


def read_image_bytes(fs, path: str, file: str | None = None) -> bytes:
    file = file or path
    if not fs.exists(path):
        raise SourceFormatError(file, "file present", "image not found")
    with fs.open(path, "rb") as f:
        return f.read()


def decode_pcb_mask(data: bytes, file: str) -> np.ndarray:
    """PCB foreground mask from the grey JPEG: True on the board. JPEG is lossy, so threshold at mid-grey."""
    img = _open_image(data, file, "JPEG")
    grey = np.asarray(img.convert("L"))
    return grey >= 128


def decode_rgb(data: bytes, file: str) -> np.ndarray:
    """RGB photograph (height, width, 3) uint8 (the authors use cv2 + BGR->RGB; PIL gives RGB directly)."""
    img = _open_image(data, file, "JPEG")
    return np.asarray(img.convert("RGB"))


def decode_png_mask(data: bytes, file: str) -> np.ndarray:
    """RGB class mask (height, width) uint8 from a PNG (palette or grey)."""
    img = _open_image(data, file, "PNG")
    arr = np.asarray(img)
    if arr.ndim == 3:  # an RGB(A)-encoded label image keeps the class in every channel
        arr = arr[:, :, 0]
    return arr.astype(np.uint8)


# ---------------------------------------------------------------------------------------------------- pixels


@dataclass(frozen=True)
class Preprocessing:
    """The authors' HSI preprocessing: clip reflectance to [clip_min, clip_max] (negative values occur), then
    drop the first `drop_first_bands` bands as noisy (224 -> 214 bands)."""

    clip: bool = True
    clip_min: float = 0.0
    clip_max: float = 1.0
    drop_first_bands: int = 10

    def apply(self, block: np.ndarray) -> np.ndarray:
        kept = block[..., self.drop_first_bands :]
        if not self.clip:
            return kept.astype(np.float32, copy=False)
        # One pass over the kept bands straight into a new contiguous float32 array (NaN stays NaN). The bounds
        # are float32 scalars so that a float32 block is not promoted to float64 on the way.
        out = np.empty(kept.shape, np.float32)
        lo, hi = np.float32(self.clip_min), np.float32(self.clip_max)
        return np.clip(kept, lo, hi, out=out, casting="same_kind")


def to_reflectance(block: np.ndarray, header: EnviHeader) -> np.ndarray:
    """Float32 reflectance: integer cubes with a 'reflectance scale factor' are divided by it."""
    out = block.astype(np.float32, copy=False)
    if header.reflectance_scale:
        out = out / np.float32(header.reflectance_scale)
    return out


# ---------------------------------------------------------------------------------------------------- remote


def find_layout_root(names: list[str]) -> str:
    """Prefix (folder inside an archive) under which the published layout starts, found by a cube header."""
    for name in sorted(names, key=len):
        m = _CUBE_HDR.search(name)
        if m:
            return name[: m.start() + (1 if name[m.start()] == "/" else 0)]
    raise SourceFormatError(
        "<archive>", "archive holds the PCB-Vision layout", "no HSI/pcb<N>/pcb<N>.hdr inside"
    )


# ---------------------------------------------------------------------------------------------------- boards

MAX_EXAMPLES = 5


@dataclass
class ValueViolations:
    """Where an array breaks a value rule: total count and the first few (line, sample, value)."""

    file: str
    count: int = 0
    examples: list[dict] = field(default_factory=list)

    def add(self, bad: np.ndarray, values: np.ndarray, line0: int = 0) -> None:
        n = int(bad.sum())
        if not n:
            return
        self.count += n
        for r, c in np.argwhere(bad)[: MAX_EXAMPLES - len(self.examples)]:
            v = values[r, c]
            self.examples.append(
                {
                    "file": self.file,
                    "line": int(r) + line0,
                    "sample": int(c),
                    "value": v.item() if v.size == 1 else None,
                }
            )


# Spectral continuity: in a reflectance cube neighbouring bands (2.7 nm apart on the FX10) see nearly the same
# thing, so across pixels they are strongly correlated (the shipped sample: median 0.97). A header whose
# `interleave` does not describe the bytes (says bsq, data is BIP, same size) still reads as a correctly shaped
# cube, but each "band" then mixes bands of far-apart pixels and the correlation collapses (0.3-0.8 on the
# sample's boards, lower on big ones). The median over all adjacent pairs ignores the few noisy first bands.
CONTINUITY_MIN = 0.9
CONTINUITY_PIXELS = 4096


def continuity_pixel_indices(n_pixels: int, k: int = CONTINUITY_PIXELS) -> np.ndarray:
    """Up to `k` evenly spaced pixel indices over the whole board: the same pixels on every read."""
    return np.unique(np.linspace(0, n_pixels - 1, min(n_pixels, k)).round().astype(np.int64))


def adjacent_band_correlation(spectra: np.ndarray) -> float | None:
    """Median over adjacent band pairs of the Pearson correlation across pixels of (pixels, bands) spectra;
    pixels with a non-finite value and constant bands are left out. None when it cannot be measured."""
    x = spectra[np.isfinite(spectra).all(axis=1)].astype(np.float64)
    if x.shape[0] < 3 or x.shape[1] < 2:
        return None
    x -= x.mean(axis=0)
    norm = np.sqrt((x * x).sum(axis=0))
    num = (x[:, :-1] * x[:, 1:]).sum(axis=0)
    den = norm[:-1] * norm[1:]
    ok = den > 0
    return float(np.median(num[ok] / den[ok])) if ok.any() else None


@dataclass
class SpectralContinuity:
    """The median adjacent-band correlation of a cube, measured on `pixels` evenly spaced pixels."""

    file: str
    interleave: str
    pixels: int
    median: float | None
    threshold: float = CONTINUITY_MIN

    @property
    def passed(self) -> bool:
        return self.median is None or self.median >= self.threshold


@dataclass
class BoardPixels:
    """One board read into a pixel table, plus what was measured on the raw arrays while reading it.

    `pixels` is the whole table when read with `read_board`; a streamed read (`BoardReader.blocks`) leaves it
    None and only `rows` says how many there were."""

    board: int
    pixels: pl.DataFrame | None
    rows: int
    files: dict[str, str]
    parts: dict[str, bool]
    shape: tuple[int, int, int]
    wavelengths: tuple[float, ...] | None
    mask_values: dict[str, ValueViolations]
    nonfinite: ValueViolations
    continuity: SpectralContinuity
    raw_negative_values: int
    raw_values_above_one: int


def _mask_checked(fs, root: str, hdr_rel: str, shape: tuple[int, int], display: str) -> np.ndarray:
    mask = read_mask(fs, f"{root}/{hdr_rel}", display_path=f"{display}{hdr_rel}")
    if mask.shape != shape:
        raise SourceFormatError(
            f"{display}{hdr_rel}",
            "mask shape = cube shape",
            f"mask is {mask.shape}, cube is {shape} (lines, samples)",
        )
    return mask


# The pixel table's columns other than the spectrum, in table order.
SCALAR_COLUMNS = (
    "board", "line", "sample", "label", "label_monoseg", "on_pcb", "hsi_split", "mean_reflectance",
    "source_file", "source_row",
)  # fmt: skip


class BoardReader:
    """One board of the published layout, opened and checked for structure, read a block of lines at a time.

    Opening reads the headers, both HSI masks and the PCB mask (small) and raises SourceFormatError naming file
    and rule for a structural fault (missing file, header/size, band count, mask shape, corrupt JPEG). Header
    extensions may be in either case. The Monoseg mask is optional: without it `label_monoseg` is null and
    `parts["monoseg_mask"]` is False. `blocks()` then yields the pixel table a block of lines at a time, so a
    board never sits in memory whole; value faults (class ids, non-finite spectra, spectral continuity) are
    measured on the way and returned by `result()`.
    """

    def __init__(
        self,
        fs,
        root: str,
        board: int,
        *,
        preprocessing: Preprocessing = Preprocessing(),
        display_root: str = "",
    ):
        files = BoardFiles(board)
        self.fs, self.board, self.preprocessing = fs, board, preprocessing
        self.root = root = root.rstrip("/")
        self.disp = disp = display_root.rstrip("/") + "/" if display_root else ""
        cube_rel = resolve_header(fs, root, files.cube_hdr) or files.cube_hdr
        self.cube = cube = open_cube(fs, f"{root}/{cube_rel}", display_path=f"{disp}{cube_rel}")
        self.cube_rel = cube_rel
        h = cube.header
        hw = (h.lines, h.samples)
        general_rel = resolve_header(fs, root, files.general_hdr) or files.general_hdr
        self.general = _mask_checked(fs, root, general_rel, hw, disp)
        monoseg_rel = resolve_header(fs, root, files.monoseg_hdr)
        self.monoseg = None if monoseg_rel is None else _mask_checked(fs, root, monoseg_rel, hw, disp)
        pcb_file = f"{disp}{files.pcb_mask_jpg}"
        self.on_pcb = decode_pcb_mask(
            read_image_bytes(fs, f"{root}/{files.pcb_mask_jpg}", pcb_file), pcb_file
        )
        if self.on_pcb.shape != hw:
            raise SourceFormatError(
                pcb_file, "mask shape = cube shape", f"PCB mask is {self.on_pcb.shape}, cube is {hw}"
            )
        self.files = {"cube": cube.display_hdr, "general_mask": f"{disp}{general_rel}", "pcb_mask": pcb_file}
        if monoseg_rel is not None:
            self.files["monoseg_mask"] = f"{disp}{monoseg_rel}"
        self.mask_values = {}
        for rel, mask in ((general_rel, self.general), (monoseg_rel, self.monoseg)):
            if mask is not None:
                v = ValueViolations(f"{disp}{data_path_for(rel)}")
                v.add(~np.isin(mask, list(CLASSES)), mask)
                self.mask_values[data_path_for(rel)] = v
        self.n_bands_out = h.bands - preprocessing.drop_first_bands
        self._reset()

    def _reset(self) -> None:
        self.nonfinite = ValueViolations(self.cube.display_data)
        self.negatives = self.above = self.rows = 0
        self._continuity: list[np.ndarray] = []

    @property
    def header(self) -> EnviHeader:
        return self.cube.header

    def blocks(self, block_lines: int = 64) -> Iterator[pl.DataFrame]:
        """The pixel table, `block_lines` cube lines per frame, in (line, sample) order."""
        self._reset()
        h, prep, board = self.header, self.preprocessing, self.board
        sampled = continuity_pixel_indices(h.lines * h.samples)
        split, source_file = hsi_split(board), data_path_for(BoardFiles(board).cube_hdr)
        for line0, block in self.cube.iter_blocks(block_lines):
            refl = to_reflectance(block, h)
            del block
            n_lines = refl.shape[0]
            first, n = line0 * h.samples, n_lines * h.samples
            # The value checks share one boolean scratch array instead of allocating one per rule.
            scratch = np.empty(refl.shape, np.bool_)
            np.isfinite(refl, out=scratch)
            self.nonfinite.add(~scratch.all(axis=2), np.zeros(refl.shape[:2]), line0)
            self.negatives += int(np.count_nonzero(np.less(refl, 0, out=scratch)))
            self.above += int(np.count_nonzero(np.greater(refl, 1, out=scratch)))
            del scratch
            flat = refl.reshape(n, h.bands)
            here = sampled[(sampled >= first) & (sampled < first + n)] - first
            self._continuity.append(flat[here].copy())
            pre = prep.apply(flat)
            del refl, flat
            rows = slice(line0, line0 + n_lines)
            index = np.arange(first, first + n, dtype=np.int64)

            def constant(value, dtype, n=n) -> pl.Series:  # one value per board, without a Python list
                return pl.Series([value], dtype=dtype).new_from_index(0, n)

            monoseg = (
                constant(None, pl.UInt8) if self.monoseg is None else pl.Series(self.monoseg[rows].ravel())
            )
            yield pl.DataFrame(
                {
                    "board": constant(board, pl.Int16),
                    "line": pl.Series((index // h.samples).astype(np.int32)),
                    "sample": pl.Series((index % h.samples).astype(np.int32)),
                    "label": pl.Series(self.general[rows].ravel()),
                    "label_monoseg": monoseg,
                    "on_pcb": pl.Series(self.on_pcb[rows].ravel()),
                    "hsi_split": constant(split, pl.String),
                    "mean_reflectance": pl.Series(pre.mean(axis=1, dtype=np.float64).astype(np.float32)),
                    "spectrum": pl.Series(pre, dtype=pl.Array(pl.Float32, self.n_bands_out)),
                    "source_file": constant(source_file, pl.String),
                    "source_row": pl.Series(index),
                }
            )
            del pre, monoseg, index  # before the next block is read: one block of spectra at a time
            self.rows += n

    def result(self, pixels: pl.DataFrame | None = None) -> BoardPixels:
        """What was read and measured by the last complete pass of `blocks()`."""
        h = self.header
        spectra = np.concatenate(self._continuity) if self._continuity else np.zeros((0, h.bands))
        continuity = SpectralContinuity(
            file=self.cube.display_data,
            interleave=h.interleave,
            pixels=int(np.isfinite(spectra).all(axis=1).sum()),
            median=adjacent_band_correlation(spectra),
        )
        return BoardPixels(
            board=self.board,
            pixels=pixels,
            rows=self.rows,
            files=self.files,
            parts={"monoseg_mask": self.monoseg is not None},
            shape=h.shape,
            wavelengths=h.wavelengths,
            mask_values=self.mask_values,
            nonfinite=self.nonfinite,
            continuity=continuity,
            raw_negative_values=self.negatives,
            raw_values_above_one=self.above,
        )


def read_board(
    fs,
    root: str,
    board: int,
    *,
    preprocessing: Preprocessing = Preprocessing(),
    block_lines: int = 64,
    display_root: str = "",
) -> BoardPixels:
    """Read one board (cube, HSI masks, PCB mask) into one pixel table in memory (`BoardReader` streams it).

    `root` is the folder of the published layout on `fs`; `display_root` prefixes file names in messages.
    Columns: board, line, sample, label (General), label_monoseg (null without a Monoseg mask), on_pcb,
    hsi_split, mean_reflectance, spectrum (float32 array of the preprocessed bands), source_file (cube data
    file), source_row (pixel index line * samples + sample).
    """
    reader = BoardReader(fs, root, board, preprocessing=preprocessing, display_root=display_root)
    pixels = pl.concat(list(reader.blocks(block_lines)), rechunk=True)
    return reader.result(pixels)


# Columns of the one-row RGB summary of a board (a board without an RGB photograph gives an empty table).
RGB_SCHEMA: dict[str, pl.DataType] = {
    "board": pl.Int64,
    "height": pl.Int64,
    "width": pl.Int64,
    "mean_red": pl.Float64,
    "mean_green": pl.Float64,
    "mean_blue": pl.Float64,
    "rgb_split": pl.String,
    "hsi_split": pl.String,
    "source_file": pl.String,
    "source_row": pl.Int64,
    **{
        f"{name}_{cname.lower()}_pixels": pl.Int64
        for name in ("general", "monoseg")
        for cname in CLASSES.values()
    },
}


@dataclass
class BoardRgb:
    """One board's RGB photograph and masks: a one-row summary (none without a photograph), the value faults
    found and which optional files were present."""

    row: dict | None
    mask_values: dict[str, ValueViolations]
    parts: dict[str, bool]

    def frame(self) -> pl.DataFrame:
        return pl.DataFrame([self.row] if self.row else [], schema=RGB_SCHEMA)


def read_rgb_board(fs, root: str, board: int, *, display_root: str = "") -> BoardRgb:
    """Decode RGB/{i}.jpg and its General/Monoseg PNG masks; masks must have the photograph's size.

    Every RGB file is optional (a release may hold the HSI part only): without the photograph there is no row,
    without a mask its pixel counts are null; `parts` says what was found."""
    files = BoardFiles(board)
    root = root.rstrip("/")
    disp = display_root.rstrip("/") + "/" if display_root else ""

    def load(rel, decode):
        return decode(read_image_bytes(fs, f"{root}/{rel}", f"{disp}{rel}"), f"{disp}{rel}")

    masks = {"general": files.rgb_general_png, "monoseg": files.rgb_monoseg_png}
    parts = {"rgb_image": fs.exists(f"{root}/{files.rgb_jpg}")}
    parts.update({f"rgb_{name}_mask": fs.exists(f"{root}/{rel}") for name, rel in masks.items()})
    if not parts["rgb_image"]:
        return BoardRgb(row=None, mask_values={}, parts=parts)
    rgb = load(files.rgb_jpg, decode_rgb)
    row = {
        "board": board,
        "height": rgb.shape[0],
        "width": rgb.shape[1],
        "mean_red": float(rgb[:, :, 0].mean()),
        "mean_green": float(rgb[:, :, 1].mean()),
        "mean_blue": float(rgb[:, :, 2].mean()),
        "rgb_split": next((k for k, v in rgb_splits().items() if board in v), NO_SPLIT),
        "hsi_split": hsi_split(board),
        "source_file": files.rgb_jpg,
        "source_row": 0,
    }
    violations = {}
    for name, rel in masks.items():
        if not parts[f"rgb_{name}_mask"]:
            row.update({f"{name}_{cname.lower()}_pixels": None for cname in CLASSES.values()})
            continue
        mask = load(rel, decode_png_mask)
        if mask.shape != rgb.shape[:2]:
            raise SourceFormatError(
                f"{disp}{rel}", "mask shape = image shape", f"{mask.shape} vs {rgb.shape[:2]}"
            )
        v = ValueViolations(f"{disp}{rel}")
        v.add(~np.isin(mask, list(CLASSES)), mask)
        violations[rel] = v
        counts = np.bincount(np.minimum(mask.ravel(), 4), minlength=5)
        for c, cname in CLASSES.items():
            row[f"{name}_{cname.lower()}_pixels"] = int(counts[c])
    return BoardRgb(row=row, mask_values=violations, parts=parts)


# ------------------------------------------------------------------------------------------------ archives


def extract_layout(archive: str, dest: str) -> str:
    """Unpack a downloaded archive (zip or tar) and return the folder where the published layout starts (an
    archive without it is refused before anything is written). Resumable, refuses paths escaping `dest`
    (`dagster_project.records.unpack_archive`)."""
    return unpack_archive(archive, dest, root_of=find_layout_root)
