"""Metadata a user sees in the Dagster UI: row counts, column schema, a preview of the first rows, plots, and the
papers' reference numbers beside ours."""

import base64
import io
from typing import Any

import dagster as dg
import polars as pl

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


def figure_png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def image_metadata(png: bytes, title: str = "plot") -> dg.MetadataValue:
    """A PNG shown inline in the asset's metadata panel."""
    b64 = base64.b64encode(png).decode()
    return dg.MetadataValue.md(f"![{title}](data:image/png;base64,{b64})")


def save_figure(lake, relpath: str, fig, title: str) -> dict[str, Any]:
    """Render a matplotlib figure, store it on the lake and return metadata showing it inline plus its path."""
    png = figure_png(fig)
    lake.write_bytes(relpath, png)
    return {title: image_metadata(png, title), f"{title}_path": dg.MetadataValue.path(lake.url(relpath))}


def paper_vs_ours(rows: list[tuple[str, float | None, float | None]], *, paper: str, unit: str = "") -> str:
    """Markdown table: metric | paper, full data | this run, sample data."""
    out = [
        f"| metric | paper, full data ({paper}) | this run, sample data |",
        "|---|---|---|",
    ]
    for name, theirs, ours in rows:
        t = "n/a" if theirs is None else f"{theirs:.4g}{unit}"
        o = "n/a" if ours is None else f"{ours:.4g}{unit}"
        out.append(f"| {name} | {t} | {o} |")
    out.append(
        "\n_The sample is small and synthetic: compare the pipeline, not the numbers. "
        "The paper's figures come from the full dataset._"
    )
    return "\n".join(out)
