"""The shared plotting helpers: figures of the recurring kinds, stored under `reports/<dataset>/` and shown inline."""

import numpy as np

from dagster_project import plots


def test_save_plot_stores_the_png_and_returns_inline_metadata(lake_local):
    fig = plots.predicted_vs_observed(
        np.array([10.0, 20.0, 30.0]),
        np.array([12.0, 18.0, 33.0]),
        groups=["b", "a", "b"],
        xlabel="observed",
        ylabel="predicted",
        title="t",
    )
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["b", "a", "1:1"]  # groups in first-seen order, then the 1:1 line
    md = plots.save_plot(lake_local, "ds", "pred_plot", fig)
    png = lake_local.read_bytes("reports/ds/pred_plot.png")
    assert png.startswith(b"\x89PNG")
    assert md["pred_plot"].value.startswith("![pred_plot](data:image/png;base64,")
    assert md["pred_plot_path"].value == lake_local.url("reports/ds/pred_plot.png")


def test_class_bars_show_missing_values_as_no_bar():
    fig = plots.class_bars(
        ["others", "IC"], {"ours": [0.9, float("nan")], "paper": [0.95, None]}, ylabel="IoU", title="t"
    )
    heights = [p.get_height() for p in fig.axes[0].patches]
    assert heights == [0.9, 0.0, 0.95, 0.0]
    plots.pyplot().close(fig)
