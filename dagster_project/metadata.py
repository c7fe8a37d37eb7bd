"""Metadata a user sees in the Dagster UI: row counts, column schema, a preview of the first rows, and the papers'
reference numbers beside ours (plots: `dagster_project/plots.py`)."""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl

from dagster_project import settings

PREVIEW_ROWS = 5
_POLARS_TO_TYPE = {pl.List: "list", pl.Array: "array", pl.Struct: "struct"}


def table_schema(df: pl.DataFrame) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[dg.TableColumn(name=name, type=str(dtype)) for name, dtype in df.schema.items()]
    )


def preview_markdown(df: pl.DataFrame, rows: int = PREVIEW_ROWS, max_cell: int = 60) -> str:
    head = df.head(rows)
    cols = [c for c in head.columns]

    def cell(v: Any) -> str:
        s = str(v).replace("|", "\\|").replace("\n", " ")
        return s if len(s) <= max_cell else s[: max_cell - 1] + "…"

    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in head.iter_rows():
        lines.append("| " + " | ".join(cell(v) for v in row) + " |")
    return "\n".join(lines)


def table_metadata(df: pl.DataFrame, *, preview: bool = True) -> dict[str, Any]:
    """Row count (`dagster/row_count`, plotted by the UI across runs), column schema and a preview."""
    md: dict[str, Any] = {
        "dagster/row_count": df.height,
        "dagster/column_schema": table_schema(df),
    }
    if preview:
        md["preview"] = dg.MetadataValue.md(preview_markdown(df))
    return md


# The label of a run that read the synthetic sample shipped in `assets/<dataset>/`.
SAMPLE_LABEL = "shipped sample (synthetic)"


def is_shipped_sample(dataset: str, location: str | None = None) -> bool:
    """Whether `location` (default: the configured source of `dataset`) is the shipped sample folder."""
    location = location or settings.source_location(dataset)
    if location.startswith("file://"):
        location = location[len("file://") :]
    if "://" in location:
        return False
    return Path(location).expanduser().resolve() == (settings.SAMPLES_DIR / dataset).resolve()


def _source_files(lake, dataset: str, location: str) -> int | None:
    """How many files of the dataset's raw manifest came from `location` (all of them when the source maps file
    names to other download URLs, e.g. a records API); None without a lake or manifest."""
    if lake is None:
        return None
    from dagster_project.raw import read_manifest  # raw imports storage; keep metadata importable on its own

    manifest = read_manifest(lake, dataset)
    if manifest.is_empty():
        return None
    base = location[len("file://") :] if location.startswith("file://") else location
    bases = {base.rstrip("/") + "/"}
    if "://" not in base:
        bases.add(str(Path(base).expanduser().resolve()) + "/")
    urls = manifest["source_url"].fill_null("").to_list()
    matched = sum(1 for u in urls if u.startswith(tuple(bases)))
    return matched or manifest.height


def run_label(dataset: str, lake=None, *, rows: Mapping[str, int] | None = None) -> str:
    """What a run read, for comparison tables and plot titles: `SAMPLE_LABEL` when the dataset's source is the
    shipped sample (`assets/<dataset>`), else the source location with its file count (from the raw manifest on
    `lake`) and the given row counts, e.g. `s3://bucket/agbd: 120 files, 3,401 test footprints`."""
    location = settings.source_location(dataset)
    if is_shipped_sample(dataset, location):
        return SAMPLE_LABEL
    counts = []
    files = _source_files(lake, dataset, location)
    if files is not None:
        counts.append(f"{files:,} files")
    counts += [f"{n:,} {what}" for what, n in (rows or {}).items()]
    return f"{location}: {', '.join(counts)}" if counts else location


def paper_vs_ours(
    rows: list[tuple[str, float | None, float | None]], *, paper: str, run: str, unit: str = ""
) -> str:
    """Markdown table: metric | paper, full data | this run (`run`: the label of `run_label`)."""
    out = [
        f"| metric | paper, full data ({paper}) | this run: {run.replace('|', '/')} |",
        "|---|---|---|",
    ]
    for name, theirs, ours in rows:
        t = "n/a" if theirs is None else f"{theirs:.4g}{unit}"
        o = "n/a" if ours is None else f"{ours:.4g}{unit}"
        out.append(f"| {name} | {t} | {o} |")
    if run == SAMPLE_LABEL:
        out.append(
            "\n_The sample is small and synthetic: compare the pipeline, not the numbers. "
            "The paper's figures come from the full dataset._"
        )
    else:
        out.append(
            f"\n_This run read {run}. The paper's figures come from the full dataset: compare the numbers only "
            "where this run read the same data under the same protocol._"
        )
    return "\n".join(out)
