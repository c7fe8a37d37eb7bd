"""What an evaluation asset returns: one typed `EvaluationResult` (metrics, the headline metric and its direction,
the split, the paper-vs-ours rows, plots), turned into the asset's metadata by `evaluation_output` and read back
from a materialisation by `read_evaluation`.

The model cards, the `make run` summary and the retrain selection read the machine-readable copy stored under the
metadata key `cdp/evaluation` (`EVALUATION_KEY`), never free-form metadata strings. The flat entries beside it
(one float per metric, `headline_metric_name` / `headline_metric`, `paper_vs_ours`, plots) are for the Dagster UI,
which plots numeric metadata across runs.
"""

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import dagster as dg

EVALUATION_KEY = "cdp/evaluation"

# One row of the comparison with the paper: (what, the paper's value on the full data, this run's value).
ReferenceRow = tuple[str, float | None, float | None]


@dataclass(frozen=True)
class ModelScores:
    """One model's share of an evaluation that scores several models (GeoPlant's baselines and kNN)."""

    metrics: dict[str, float]
    headline: str

    @property
    def headline_value(self) -> float | None:
        return self.metrics.get(self.headline)


@dataclass
class EvaluationResult:
    """An evaluation of one model (or several: `models`, keyed by the model's asset key as a user string).

    `reference_rows` become the `paper_vs_ours` table (`metadata.paper_vs_ours`) with `reference` as the paper's
    label and `run` as this run's (`metadata.run_label`); `reference_note` is markdown shown after it. `plots` are
    metadata entries of `plots.save_plot`; `metadata` any other UI entries; `details` the dataset's own payload for
    code that loads the evaluation object (per-biome rows, confusion matrices, baselines)."""

    dataset: str
    split: str
    metrics: dict[str, float]
    headline: str
    higher_is_better: bool
    reference_rows: list[ReferenceRow] = field(default_factory=list)
    reference: str = ""
    run: str = ""
    reference_note: str = ""
    models: dict[str, ModelScores] = field(default_factory=dict)
    plots: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.headline not in self.metrics:
            raise ValueError(
                f"headline metric {self.headline!r} is not among the metrics {sorted(self.metrics)}"
            )
        for key, scores in self.models.items():
            if scores.headline not in scores.metrics:
                raise ValueError(f"{key}: headline metric {scores.headline!r} is not among its metrics")

    @property
    def headline_value(self) -> float:
        return self.metrics[self.headline]

    def for_model(self, model: dg.AssetKey | str) -> ModelScores:
        """The metrics and headline of one model: its own share when the evaluation scores several, else all."""
        name = model.to_user_string() if isinstance(model, dg.AssetKey) else model
        return self.models.get(name) or ModelScores(self.metrics, self.headline)

    def to_json(self) -> dict[str, Any]:
        """The machine-readable part (no plots or UI-only metadata); NaN becomes null, as JSON has no NaN."""
        return {
            "dataset": self.dataset,
            "split": self.split,
            "metrics": _floats_out(self.metrics),
            "headline": self.headline,
            "headline_value": _float_out(self.headline_value),
            "higher_is_better": self.higher_is_better,
            "reference": self.reference,
            "run": self.run,
            "reference_rows": [[n, _float_out(p), _float_out(o)] for n, p, o in self.reference_rows],
            "models": {
                k: {"metrics": _floats_out(s.metrics), "headline": s.headline} for k, s in self.models.items()
            },
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "EvaluationResult":
        return cls(
            dataset=data["dataset"],
            split=data["split"],
            metrics=_floats_in(data["metrics"]),
            headline=data["headline"],
            higher_is_better=bool(data["higher_is_better"]),
            reference=data.get("reference", ""),
            run=data.get("run", ""),
            reference_rows=[(n, _opt_in(p), _opt_in(o)) for n, p, o in data.get("reference_rows", [])],
            models={
                k: ModelScores(_floats_in(v["metrics"]), v["headline"])
                for k, v in (data.get("models") or {}).items()
            },
        )


def _float_out(v: float | None) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def _floats_out(metrics: Mapping[str, float]) -> dict[str, float | None]:
    return {k: _float_out(v) for k, v in metrics.items()}


def _opt_in(v: float | None) -> float | None:
    return None if v is None else float(v)


def _floats_in(metrics: Mapping[str, float | None]) -> dict[str, float]:
    return {k: math.nan if v is None else float(v) for k, v in metrics.items()}


def evaluation_metadata(result: EvaluationResult) -> dict[str, Any]:
    """The evaluation asset's metadata: `cdp/evaluation` (the typed result as JSON) and, for the UI, one float per
    metric, the headline, the paper-vs-ours table, plots and the dataset's other entries."""
    from dagster_project.metadata import paper_vs_ours

    md: dict[str, Any] = {k: dg.MetadataValue.float(float(v)) for k, v in result.metrics.items()}
    md["headline_metric_name"] = result.headline
    md["headline_metric"] = dg.MetadataValue.float(float(result.headline_value))
    if result.reference_rows:
        table = paper_vs_ours(result.reference_rows, paper=result.reference, run=result.run)
        md["paper_vs_ours"] = dg.MetadataValue.md(
            table + (f"\n\n{result.reference_note}" if result.reference_note else "")
        )
    md.update(result.metadata)
    md.update(result.plots)
    md[EVALUATION_KEY] = dg.MetadataValue.json(result.to_json())
    return md


def evaluation_output(result: EvaluationResult) -> dg.Output:
    """What an evaluation asset returns: the result itself (stored by the IO manager, loaded by the model card)
    with `evaluation_metadata` as the materialisation's metadata."""
    return dg.Output(result, metadata=evaluation_metadata(result))


def read_evaluation(metadata: Any) -> EvaluationResult | None:
    """The typed result of an evaluation's materialisation (an `AssetMaterialization`, a materialisation event or
    its metadata mapping); None when it holds none (not an evaluation)."""
    for attr in ("asset_materialization", "materialization"):
        metadata = getattr(metadata, attr, None) or metadata
    metadata = getattr(metadata, "metadata", metadata)
    entry = (metadata or {}).get(EVALUATION_KEY)
    if entry is None:
        return None
    return EvaluationResult.from_json(getattr(entry, "value", entry))


__all__ = [
    "EVALUATION_KEY",
    "EvaluationResult",
    "ModelScores",
    "ReferenceRow",
    "evaluation_metadata",
    "evaluation_output",
    "read_evaluation",
]
