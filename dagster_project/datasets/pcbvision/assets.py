"""PCB-Vision ingestion: raw files (folder, S3 or the published Invenio record) → per-board pixel table and RGB
summary, each validated by a blocking check per board."""

from typing import TYPE_CHECKING

import dagster as dg

from dagster_project import records
from dagster_project.datasets.pcbvision import checks, source
from dagster_project.ingest import Table, folder_or_record, raw_files_asset, table_asset
from dagster_project.raw import is_http, list_source_files, raw_relpath
from dagster_project.resource_hints import resource_hints
from dagster_project.storage import Lake
from dagster_project.validation import combine, python_report, validate_frame

if TYPE_CHECKING:  # pyarrow is imported where a board is written, not when the definitions load
    import pyarrow as pa

DATASET = "pcbvision"
LAYOUT_PATTERNS = ("HSI/*", "RGB/*")
PARTITIONS = dg.DynamicPartitionsDefinition(name="pcbvision_boards")  # one per board


# The published record (Zenodo 10617721 or Rodare 2704): its archives are unpacked where the layout starts.
RECORD = records.RecordSource(DATASET, patterns=LAYOUT_PATTERNS, unpack=source.extract_layout)
list_remote = RECORD.list_remote


def discover_partitions(location: str) -> list[str]:
    """Board partition keys ('pcb<N>') found at a source: cube headers in a folder/S3 layout, or the members of
    the record's zip archives (read remotely: only the zip directory is fetched, by HTTP range requests)."""
    if is_http(location):
        names: list[str] = []
        for f in RECORD.files(location):
            if f.key.lower().endswith(".zip"):
                names += records.remote_zip_names(f.url)
        boards = source.boards_in(names) if names else list(range(1, source.N_BOARDS + 1))
    else:
        boards = source.boards_in(list_source_files(location, ["HSI/*"]))  # .hdr or .HDR
    return [source.partition_key(b) for b in boards]


def partitions_for_files(location: str, changed: list[str]) -> list[str]:
    """Board partitions affected by changed source files; a change outside any board's files (a new archive of
    the published record) affects every board found at the source."""
    boards = [source.board_of_file(rel) for rel in changed]
    if any(b is None for b in boards):
        return discover_partitions(location)
    return sorted({source.partition_key(b) for b in boards}, key=source.board_of)


# ------------------------------------------------------------------------------------------ assets


pcbvision_raw_files = raw_files_asset(
    DATASET,
    kinds={"python", "envi"},
    ingest=folder_or_record(LAYOUT_PATTERNS, RECORD),
    metadata=lambda m: {"boards": dg.MetadataValue.json(source.boards_in(m["relpath"].to_list()))},
    description="PCB-Vision source files (ENVI cubes and masks, JPEG/PNG images) copied byte for byte into "
    "`raw/pcbvision/` in the published layout, with their manifest (size, sha256, source URL, retrieval time). "
    "A folder or `s3://` URL must hold the published layout (HSI/, RGB/); the published data is read from its "
    "record page, `https://zenodo.org/records/10617721` or `https://rodare.hzdr.de/record/2704`, whose "
    "archives are kept as downloaded under `raw/pcbvision/_archives/` and unpacked. Unchanged files are not "
    "copied again.",
)


class BoardPixelsConfig(dg.Config):
    """The authors' HSI preprocessing, applied while reading: clip reflectance to [clip_min, clip_max] (the cubes
    contain negative values) and drop the first `drop_first_bands` bands as noisy (224 → 214). Set `clip` to false
    and `drop_first_bands` to 0 to keep the spectra as recorded. `block_lines` cube lines are read (and written as
    one row group) at a time: peak memory grows with it (a full-size board: ~140 MB over the imports at 16 lines,
    ~215 MB at 32), the throughput does not."""

    clip: bool = True
    clip_min: float = 0.0
    clip_max: float = 1.0
    drop_first_bands: int = 10
    block_lines: int = 16


def _raw_root(lake: Lake) -> str:
    return lake.path(raw_relpath(DATASET))


def board_table_relpath(board: int) -> str:
    return f"tables/pcbvision_board_pixels/{source.partition_key(board)}/data.parquet"


# How the spectra are stored. Most of the cost of writing a board is not compression but the parquet encoding of
# 214 floats per pixel (a repetition level per value); the choices below cut what can be cut:
# - the spectrum is declared non-null (one float array per pixel, NaN stays a value), which spares the writer a
#   definition level per value;
# - BYTE_STREAM_SPLIT puts the same byte of every float side by side, so the slowly varying sign/exponent bytes
#   compress even with LZ4 (LZ4_RAW: the board file is ~9% smaller than the authors' reading written with polars'
#   default zstd, at a fraction of zstd's CPU; zstd level 1 saves ~5% more space for ~25% more write time);
# - dictionary encoding and min/max statistics stay on the narrow columns only (on float spectra they are
#   useless and cost as much as the compression).
# pyarrow names the spectrum's leaf column after its compliant nested type.
SPECTRUM_LEAF = "spectrum.list.element"
COMPRESSION = "lz4"
WRITE_QUEUE = 2  # blocks handed to the writer thread and not written yet


def parquet_schema(arrow_schema: "pa.Schema") -> "pa.Schema":
    """The board table's schema as written: the block's schema with the spectrum (and its values) non-null."""
    import pyarrow as pa

    spectrum = arrow_schema.field("spectrum")
    item = pa.field("element", spectrum.type.value_type, nullable=False)
    fixed = pa.list_(item, spectrum.type.list_size)
    return arrow_schema.set(
        arrow_schema.get_field_index("spectrum"), pa.field("spectrum", fixed, nullable=False)
    )


def parquet_block(table: "pa.Table", schema: "pa.Schema") -> "pa.Table":
    """A block's arrow table as `schema` (`parquet_schema`), without copying the spectra."""
    import pyarrow as pa

    i = table.schema.get_field_index("spectrum")
    fixed = schema.field("spectrum").type
    spectrum = table.column(i)
    if spectrum.null_count:
        raise ValueError("a pixel without a spectrum: the reader always yields one array per pixel")
    chunks = [pa.FixedSizeListArray.from_arrays(c.flatten(), type=fixed) for c in spectrum.chunks]
    columns = table.columns
    columns[i] = pa.chunked_array(chunks, type=fixed)
    return pa.Table.from_arrays(columns, schema=schema)


def write_board_table(
    lake: Lake, relpath: str, reader: source.BoardReader, block_lines: int
) -> source.BoardPixels:
    """Stream a board's pixel table into one parquet file (a row group per block of lines, written atomically),
    so memory holds a block or two of spectra, never the board. Returns what was measured on the way.

    The encoding and compression run in a writer thread (pyarrow releases the GIL) while the next blocks are read
    and checked, so reading and writing overlap on two cores. Up to `WRITE_QUEUE` blocks wait for the writer, so
    that it always has the next block at hand when it finishes one: on a busy machine the reading thread may not
    be scheduled for a while, and a writer waiting for it would sit idle."""
    from collections import deque
    from concurrent.futures import Future, ThreadPoolExecutor

    import pyarrow.parquet as pq

    with lake.atomic_open(relpath, "wb") as fh, ThreadPoolExecutor(1, "pcbvision-writer") as pool:
        writer, schema = None, None
        pending: deque[Future] = deque()
        try:
            for block in reader.blocks(block_lines):
                table = block.to_arrow()
                del block
                schema = schema or parquet_schema(table.schema)
                table = parquet_block(table, schema)
                if writer is None:
                    narrow_columns = [c for c in schema.names if c != "spectrum"]
                    writer = pq.ParquetWriter(
                        fh,
                        schema,
                        compression=COMPRESSION,
                        use_dictionary=narrow_columns,
                        write_statistics=narrow_columns,
                        use_byte_stream_split=[SPECTRUM_LEAF],
                    )
                while len(pending) >= WRITE_QUEUE:
                    pending.popleft().result()  # re-raises a write error here
                pending.append(pool.submit(writer.write_table, table))
                del table
            while pending:
                pending.popleft().result()
        finally:
            for future in pending:
                future.exception()  # never close the writer under a running write
            if writer is not None:
                writer.close()
    return reader.result()


@table_asset(
    "pcbvision_board_pixels",
    dataset=DATASET,
    op_tags=resource_hints(cpu="1", memory="4Gi"),  # Kubernetes requests/limits under dagster-k8s
    partitions_def=PARTITIONS,
    deps=[dg.AssetKey("pcbvision_raw_files")],
    check_description="Per board: header size = data file size, 224 bands, mask shape = cube shape, General and "
    "Monoseg mask values in {0,1,2,3}, finite spectra, spectral continuity (median adjacent-band correlation "
    ">= 0.9 on evenly spaced pixels: a header whose interleave does not describe the bytes scrambles the "
    "cube), and GX rules on the pixel table's columns.",
)
def pcbvision_board_pixels(context: dg.AssetExecutionContext, config: BoardPixelsConfig, lake: Lake):
    """One row per hyperspectral pixel of one board: position (line, sample), General and Monoseg class (0 others,
    1 IC, 2 capacitor, 3 connectors; Monoseg null where the release has no Monoseg mask), whether it lies on the
    PCB (PCB mask), the authors' HSI split of the board, the preprocessed spectrum (float32 array, 214 bands by
    default) and its mean. The cube is read memory-mapped (or by ranged reads on S3) a block of lines at a time
    and streamed to parquet block by block, so a board never sits in memory whole."""
    board = source.board_of(context.partition_key)
    prep = source.Preprocessing(
        clip=config.clip,
        clip_min=config.clip_min,
        clip_max=config.clip_max,
        drop_first_bands=config.drop_first_bands,
    )
    reader = source.BoardReader(
        lake.fs, _raw_root(lake), board, preprocessing=prep, display_root=lake.url(raw_relpath(DATASET))
    )
    rel = board_table_relpath(board)
    bp = write_board_table(lake, rel, reader, config.block_lines)
    # The table-level rules read the table back without its spectra (a few bytes per pixel): the streamed
    # write and this never hold the spectra at the same time.
    df = lake.read_parquet(rel, columns=list(source.SCALAR_COLUMNS))
    suite = f"pcbvision_board_pixels_{context.partition_key}"
    gx = validate_frame(
        df,
        suite=suite,
        rules=checks.pixel_rules(*((config.clip_min, config.clip_max) if config.clip else (None, None))),
        id_columns=("source_file", "source_row", "line", "sample"),
        lake=lake,
    )
    report = combine(suite, python_report(suite, checks.board_python_rules(bp), df.height), gx)
    counts = df.group_by("label").len().sort("label")
    return Table(  # the pixel table was streamed to parquet above; `df` is its scalar columns
        None,
        report,
        describe=df,
        metadata={
            "path": dg.MetadataValue.path(lake.url(rel)),
            "board": board,
            "hsi_split": source.hsi_split(board),
            "cube_shape": dg.MetadataValue.json(list(bp.shape)),
            "bands_kept": reader.n_bands_out,
            "preprocessing": dg.MetadataValue.json(config.model_dump()),
            "raw_negative_values": bp.raw_negative_values,
            "raw_values_above_one": bp.raw_values_above_one,
            "adjacent_band_correlation": dg.MetadataValue.float(
                float("nan") if bp.continuity.median is None else bp.continuity.median
            ),
            "optional_parts_found": dg.MetadataValue.json(bp.parts),
            "class_pixels": dg.MetadataValue.json(
                {
                    source.CLASSES.get(r["label"], str(r["label"])): r["len"]
                    for r in counts.iter_rows(named=True)
                }
            ),
            "files": dg.MetadataValue.json(bp.files),
        },
    )


@table_asset(
    "pcbvision_rgb_images",
    dataset=DATASET,
    partitions_def=PARTITIONS,
    deps=[dg.AssetKey("pcbvision_raw_files")],
    check_description="Per board: RGB JPEG and PNG masks decode, masks have the photograph's size, mask values "
    "in {0,1,2,3}.",
)
def pcbvision_rgb_images(context: dg.AssetExecutionContext, lake: Lake):
    """One row per board summarising its RGB photograph (Teledyne Dalsa C4020): size, mean colour, pixel counts
    per class in the General and Monoseg RGB masks (null where a mask is absent; no row where the release has no
    photograph of the board), and the board's RGB split (the authors' RGB notebook splits
    the 53 boards 33/9/11 with scikit-learn, independently of the HSI split lists)."""
    board = source.board_of(context.partition_key)
    rgb = source.read_rgb_board(lake.fs, _raw_root(lake), board, display_root=lake.url(raw_relpath(DATASET)))
    df = rgb.frame()
    if rgb.row is None:
        context.log.info(f"board {board}: no RGB photograph in this release; the RGB table has no row for it")
    suite = f"pcbvision_rgb_images_{context.partition_key}"
    report = python_report(suite, checks.rgb_python_rules(rgb), df.height)
    return Table(df, report, {"optional_parts_found": dg.MetadataValue.json(rgb.parts)})
