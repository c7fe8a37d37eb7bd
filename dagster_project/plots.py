"""The evaluation plots' shared parts: a headless pyplot, the recurring chart types (predicted vs observed, bars
per class, metric curves against the paper's points, a map of per-point scores) and the way every figure leaves a
step (PNG on the lake under `reports/<dataset>/`, shown inline in the asset's metadata with its path).

matplotlib is imported inside the functions, with the Agg backend: importing this module (every code location
import does) costs nothing, and no step ever needs a display.
"""

import base64
import io
from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg
import numpy as np

REPORTS_DIR = "reports"


def pyplot():
    """matplotlib.pyplot on the headless Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def figure_png(fig) -> bytes:
    """The figure as PNG bytes; the figure is closed (steps draw many, pyplot would keep them all)."""
    plt = pyplot()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def image_metadata(png: bytes, title: str = "plot") -> dg.MetadataValue:
    """A PNG shown inline in the asset's metadata panel."""
    b64 = base64.b64encode(png).decode()
    return dg.MetadataValue.md(f"![{title}](data:image/png;base64,{b64})")


def save_figure(lake, relpath: str, fig, title: str) -> dict[str, Any]:
    """Render a figure, store it on the lake at `relpath` and return the metadata that shows it inline
    (`title`) plus its path (`<title>_path`)."""
    png = figure_png(fig)
    lake.write_bytes(relpath, png)
    return {title: image_metadata(png, title), f"{title}_path": dg.MetadataValue.path(lake.url(relpath))}


def save_plot(lake, dataset: str, name: str, fig) -> dict[str, Any]:
    """`save_figure` at the platform's place for a dataset's plots: `reports/<dataset>/<name>.png`."""
    return save_figure(lake, f"{REPORTS_DIR}/{dataset}/{name}.png", fig, name)


def predicted_vs_observed(
    observed: np.ndarray,
    predicted: np.ndarray,
    *,
    groups: Sequence[str] | None = None,
    xlabel: str,
    ylabel: str,
    title: str,
    size: float = 5.0,
):
    """Scatter of predictions against observations with the 1:1 line, one colour per group (in first-seen
    order) when `groups` is given; both axes from 0."""
    plt = pyplot()
    observed, predicted = np.asarray(observed, float), np.asarray(predicted, float)
    fig, ax = plt.subplots(figsize=(size, size))
    if groups is None:
        ax.scatter(observed, predicted, s=14, alpha=0.8)
    else:
        labels = np.asarray(groups, dtype=object)
        for name in dict.fromkeys(labels.tolist()):
            sel = labels == name
            ax.scatter(observed[sel], predicted[sel], s=14, alpha=0.8, label=name)
    top = float(max(observed.max(), predicted.max()) * 1.05) if observed.size else 1.0
    ax.plot([0, top], [0, top], color="k", lw=1, label="1:1")
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=7, loc="upper left")
    return fig


def class_bars(
    classes: Sequence[str],
    series: Mapping[str, Sequence[float | None]],
    *,
    ylabel: str,
    title: str,
    ylim: tuple[float, float] | None = (0.0, 1.0),
):
    """Grouped bars: one group per class, one bar per series (e.g. IoU per class, ours beside the paper's);
    a missing value (None or NaN) gets no visible bar (height 0)."""
    plt = pyplot()
    x = np.arange(len(classes))
    width = 0.8 / max(len(series), 1)
    fig, ax = plt.subplots(figsize=(max(4.0, 1.2 * len(classes) + 1.5), 3.2))
    for i, (label, values) in enumerate(series.items()):
        heights = np.array([np.nan if v is None else float(v) for v in values])
        ax.bar(x + (i - (len(series) - 1) / 2) * width, np.nan_to_num(heights), width, label=label)
    ax.set_xticks(x, list(classes))
    ax.set_ylabel(ylabel)
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    return fig


def metric_curves(
    x: Sequence[float],
    curves: Mapping[str, Sequence[float]],
    *,
    reference: tuple[str, Sequence[float], Sequence[float]] | None = None,
    xlabel: str,
    ylabel: str,
    title: str,
    ylim: tuple[float, float] | None = (0.0, 1.02),
):
    """One line per metric curve (e.g. top-k accuracy against k), with the paper's points as black stars
    (`reference` = (label, xs, ys))."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for (label, ys), marker in zip(curves.items(), "osd^v", strict=False):
        ax.plot(list(x), list(ys), marker=marker, label=label)
    if reference is not None:
        label, xs, ys = reference
        ax.scatter(list(xs), list(ys), marker="*", s=120, color="k", label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.legend(loc="lower right")
    ax.set_title(title)
    return fig


def score_map(
    lon: Sequence[float],
    lat: Sequence[float],
    scores: Sequence[float],
    *,
    background: tuple[Sequence[float], Sequence[float], str] | None = None,
    label: str,
    title: str,
):
    """Points on lon/lat coloured by a score in [0, 1], over grey `background` points ((lon, lat, label))."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 5))
    if background is not None:
        ax.scatter(background[0], background[1], c="lightgrey", s=6, label=background[2])
    sc = ax.scatter(lon, lat, c=scores, cmap="viridis", vmin=0, vmax=1, s=18, edgecolors="k", lw=0.2)
    fig.colorbar(sc, ax=ax, label=label)
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    ax.set_title(title, fontsize=9)
    if background is not None:
        ax.legend(loc="upper left", fontsize=8)
    return fig


def image_grid(rows: int, cols: int, *, cell: tuple[float, float] = (2.4, 2.6)):
    """(figure, axes[rows][cols]) for panels of images, ticks off."""
    plt = pyplot()
    fig, axes = plt.subplots(rows, cols, figsize=(cell[0] * cols, cell[1] * rows), squeeze=False)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    return fig, axes


__all__ = [
    "class_bars",
    "figure_png",
    "image_grid",
    "image_metadata",
    "metric_curves",
    "predicted_vs_observed",
    "pyplot",
    "save_figure",
    "save_plot",
    "score_map",
]
