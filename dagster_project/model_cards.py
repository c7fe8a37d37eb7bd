"""Model cards: one Hugging Face model card (`README.md` with YAML front matter) per trained model, built by one
factory for every dataset, plus the card index that gathers the cards for dbt (the footprint log asset lives in
`dagster_project/footprint/log.py`).

Discovery (no per-dataset code, no names): an evaluation is an asset declaring `Role.EVALUATION`
(`dagster_project/roles.py`); its models are the upstream assets it depends on that declare `Role.MODEL` (lineage).
Each model gets `<model>_card` in the model's group, with the model and its evaluation as inputs. The card reads:

- `license`: the dataset's licence (`Dataset.license`, the dataset named by the model's `cdp/dataset` tag), as a
  Hugging Face licence id where one matches;
- `datasets`: the Hugging Face dataset id when the dataset's home page is on the Hub, else the dataset name;
- `metrics` / `model-index`: the typed result (`dagster_project/evaluation.py`, `read_evaluation`) of the
  evaluation's latest materialisation; for an evaluation of several models, that model's share of it;
- `co2_eq_emissions`: the model's training footprint (`measure_footprint`), in grams as the Hub expects;
- `carbon_efficiency`: the label of `carbon_efficiency()` (documented classes, also in the `platform_model_carbon`
  mart);
- `training_data_fingerprint`: the model's `fingerprint/*` metadata (`dagster_project/fingerprint.py`: fingerprint
  id, raw manifest sha256 and file count, rows and sha256 of each training frame, code version), also shown in a
  "Training data fingerprint" section, when the model records one.

The card links to the dataset's card (`dataset_cards/<dataset>/README.md`, `dagster_project/dataset_cards.py`) and
names the source the run read (`metadata.run_label`).

Cards are stored on the lake at `model_cards/<model>/README.md`, with a one-row `card.parquet` beside it for dbt.
"""

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import dagster as dg
import polars as pl
import yaml

from dagster_project.dataset_cards import card_relpath as dataset_card_relpath
from dagster_project.dataset_cards import load_card as load_dataset_card
from dagster_project.evaluation import EvaluationResult, read_evaluation
from dagster_project.fingerprint import PREFIX as FINGERPRINT_PREFIX
from dagster_project.footprint import PLATFORM_GROUP
from dagster_project.metadata import run_label
from dagster_project.roles import Role, dataset_of, keys_with_role, role_of, role_tags

CARDS_DIR = "model_cards"
CARDS_SCHEMA_FILE = f"{CARDS_DIR}/_schema.parquet"
MODEL_CARDS_KEY = dg.AssetKey("platform_model_cards")

# Carbon-efficiency classes: upper bounds in g CO2e per unit of the headline metric (training + evaluation), each
# ten times the previous. A+ (< 0.1 g) is about a minute of a laptop CPU on an average grid; E (>= 1 kg) is the
# range of multi-hour GPU training.
EFFICIENCY_CLASSES: tuple[tuple[str, float], ...] = (
    ("A+", 0.1),
    ("A", 1.0),
    ("B", 10.0),
    ("C", 100.0),
    ("D", 1000.0),
    ("E", math.inf),
)
# Hugging Face licence ids for the licence texts datasets declare.
_HF_LICENSES = {
    "apache-2.0": "apache-2.0",
    "apache 2.0": "apache-2.0",
    "mit": "mit",
    "cc-by-4.0": "cc-by-4.0",
    "cc by 4.0": "cc-by-4.0",
    "cc-by-sa-4.0": "cc-by-sa-4.0",
    "cc by-sa 4.0": "cc-by-sa-4.0",
    "cc-by-nc-4.0": "cc-by-nc-4.0",
    "cc by-nc 4.0": "cc-by-nc-4.0",
    "cc-by-nc-sa-4.0": "cc-by-nc-sa-4.0",
    "cc by-nc-sa 4.0": "cc-by-nc-sa-4.0",
    "cc0-1.0": "cc0-1.0",
    "cc0": "cc0-1.0",
    "odbl": "odbl",
    "bsd-3-clause": "bsd-3-clause",
}

# Hub library names of the model objects' top-level modules (custom wrappers get none).
_LIBRARIES = {"sklearn": "sklearn", "lightgbm": "lightgbm", "xgboost": "xgboost", "torch": "pytorch"}

CARD_SCHEMA: dict[str, pl.DataType] = {
    "model": pl.String(),
    "dataset": pl.String(),
    "evaluation": pl.String(),
    "model_run_id": pl.String(),
    "evaluation_run_id": pl.String(),
    "headline_metric_name": pl.String(),
    "headline_metric": pl.Float64(),
    "training_energy_kwh": pl.Float64(),
    "training_co2e_kg": pl.Float64(),
    "training_water_l": pl.Float64(),
    "evaluation_energy_kwh": pl.Float64(),
    "evaluation_co2e_kg": pl.Float64(),
    "evaluation_water_l": pl.Float64(),
    "footprint_status": pl.String(),
    "total_co2e_g": pl.Float64(),
    "carbon_efficiency_value": pl.Float64(),
    "carbon_efficiency_unit": pl.String(),
    "carbon_efficiency_label": pl.String(),
    "license": pl.String(),
    "card_path": pl.String(),
    "created_at": pl.Datetime("us", "UTC"),
}


@dataclass(frozen=True)
class ModelPair:
    model: dg.AssetKey
    evaluation: dg.AssetKey
    group: str
    dataset: str | None  # the model's `cdp/dataset` tag
    siblings: tuple[dg.AssetKey, ...]  # every model the evaluation scores (this one included)

    @property
    def card_key(self) -> dg.AssetKey:
        return dg.AssetKey([*self.model.path[:-1], f"{self.model.path[-1]}_card"])

    @property
    def card_name(self) -> str:
        """The card's folder under `model_cards/` (the model's key, path parts joined by `__`)."""
        return "__".join(self.model.path)


def _specs(assets_defs: Iterable) -> dict[dg.AssetKey, dg.AssetSpec]:
    return {spec.key: spec for a in assets_defs for spec in getattr(a, "specs", [])}


def find_model_pairs(assets_defs: Sequence) -> list[ModelPair]:
    """Model/evaluation pairs among the given asset definitions: each asset declaring `Role.EVALUATION`, with
    every upstream asset it depends on that declares `Role.MODEL` (see the module docstring)."""
    specs = _specs(assets_defs)
    pairs: dict[dg.AssetKey, ModelPair] = {}
    for key in keys_with_role(specs.values(), Role.EVALUATION):
        models = tuple(
            sorted(
                (
                    d.asset_key
                    for d in specs[key].deps
                    if d.asset_key in specs and role_of(specs[d.asset_key].tags) == Role.MODEL
                ),
                key=lambda k: k.to_user_string(),
            )
        )
        for model in models:
            spec = specs[model]
            # a model scored by several evaluations gets one card, from the first in key order
            pairs.setdefault(
                model, ModelPair(model, key, spec.group_name or "default", dataset_of(spec.tags), models)
            )
    return list(pairs.values())


# ---------------------------------------------------------------------------------------------------------------
# card content


def hf_license(text: str) -> tuple[str, str | None]:
    """(Hugging Face licence id, licence name for `license: other`)."""
    t = (text or "").strip().lower()
    if t in _HF_LICENSES:
        return _HF_LICENSES[t], None
    if not t or t.startswith(("unknown", "not stated", "unspecified")):
        return "unknown", None
    return "other", text.strip()


def hf_dataset_id(name: str, homepage: str) -> str:
    m = re.match(r"https?://huggingface\.co/datasets/([^/?#]+/[^/?#]+)", homepage or "")
    return m.group(1) if m else name


def carbon_efficiency(
    total_co2e_g: float | None,
    headline_name: str | None,
    headline: float | None,
    higher_is_better: bool = True,
) -> dict:
    """The carbon-efficiency label: g CO2e (training + evaluation) per unit of the headline metric when higher is
    better (as the evaluation declares), else the total grams, binned into `EFFICIENCY_CLASSES`; "unrated" when
    the footprint is unmeasured."""
    if total_co2e_g is None:
        return {"label": "unrated", "value": None, "unit": "footprint unmeasured"}
    if headline_name and headline is not None and headline > 0 and higher_is_better:
        value, unit = total_co2e_g / headline, f"g CO2e per unit of {headline_name}"
    else:
        why = f"{headline_name} is lower-is-better" if headline_name else "no headline metric"
        value, unit = total_co2e_g, f"g CO2e in total ({why})"
    label = next(name for name, bound in EFFICIENCY_CLASSES if value < bound)
    return {"label": label, "value": value, "unit": unit}


def _fp(metadata: dict[str, Any], name: str) -> Any:
    v = metadata.get(f"footprint/{name}")
    return getattr(v, "value", v)


def _fmt(v: float | None, unit: str = "") -> str:
    return "unmeasured" if v is None else f"{v:.4g}{unit}"


def training_fingerprint_of(metadata: dict[str, Any]) -> dict[str, Any] | None:
    """The model's `fingerprint/*` metadata as one mapping (None when it has none): `id`, `raw_manifest_sha256`,
    `raw_files`, `code_version` and `frames` ({frame: {rows, sha256}})."""
    entries = {
        k[len(FINGERPRINT_PREFIX) :]: getattr(v, "value", v)
        for k, v in metadata.items()
        if k.startswith(FINGERPRINT_PREFIX)
    }
    if not entries:
        return None
    out: dict[str, Any] = {}
    frames: dict[str, dict[str, Any]] = {}
    for name, value in sorted(entries.items()):
        frame, _, field = name.rpartition("/")
        if frame and field in ("rows", "sha256"):
            frames.setdefault(frame, {})[field] = value
        else:
            out[name] = value
    return {**out, "frames": frames}


def _fingerprint_section(fp: dict[str, Any] | None) -> str:
    if fp is None:
        return "The model records no training-data fingerprint (`fingerprint/*` metadata)."
    rows = [
        f"| fingerprint id | `{fp.get('id', 'n/a')}` |",
        f"| raw manifest sha256 ({fp.get('raw_files', 'n/a')} files) | `{fp.get('raw_manifest_sha256', 'n/a')}` |",
        *(
            f"| frame `{name}`: {f.get('rows', 'n/a')} rows | `{f.get('sha256', 'n/a')}` |"
            for name, f in fp.get("frames", {}).items()
        ),
        f"| code version | `{fp.get('code_version', 'n/a')}` |",
    ]
    return (
        "Exactly what the model was fitted on (`dagster_project/fingerprint.py`): equal ids mean the same raw "
        "files, the same training rows in the same order; the code version is shown but not part of the id.\n\n"
        "| what | value |\n|---|---|\n" + "\n".join(rows)
    )


def render_card(
    *,
    model: str,
    dataset: str,
    dataset_title: str,
    dataset_homepage: str,
    license_text: str,
    evaluation: str,
    split: str,
    metrics: dict[str, float],
    headline_name: str | None,
    train_md: dict[str, Any],
    eval_md: dict[str, Any],
    efficiency: dict,
    model_description: str,
    model_type: str,
    dataset_card: str | None = None,
    source_label: str | None = None,
) -> str:
    """The card text: YAML front matter (Hugging Face model-card metadata) and a short human section.
    `dataset_card` is the location of the dataset's card, `source_label` what the run read (`run_label`)."""
    lic, lic_name = hf_license(license_text)
    train_kg = _fp(train_md, "co2e_kg")
    fingerprint = training_fingerprint_of(train_md)
    front: dict[str, Any] = {
        "license": lic,
        **({"license_name": lic_name} if lic_name else {}),
        "datasets": [hf_dataset_id(dataset, dataset_homepage)],
        "library_name": _LIBRARIES.get(model_type.split(".")[0]) if model_type else None,
        "tags": ["climate-data-platform", dataset],
        "metrics": sorted(metrics),
        "model-index": [
            {
                "name": model,
                "results": [
                    {
                        "task": {"type": "other", "name": evaluation},
                        "dataset": {
                            "type": hf_dataset_id(dataset, dataset_homepage),
                            "name": dataset_title or dataset,
                            "split": split,
                        },
                        "metrics": [{"type": k, "name": k, "value": v} for k, v in sorted(metrics.items())],
                    }
                ],
            }
        ],
        "co2_eq_emissions": {
            "emissions": None if train_kg is None else float(train_kg) * 1000,
            "source": f"climate-data-platform measure_footprint: {_fp(train_md, 'method') or 'not measured'} "
            f"({_fp(train_md, 'status') or 'unmeasured'})",
            "training_type": "training from scratch on the platform's data (sample unless configured otherwise)",
            "geographical_location": f"grid of {_fp(train_md, 'grid_country') or 'unknown'} "
            f"({_fmt(_fp(train_md, 'grid_intensity_g_per_kwh'), ' g CO2e/kWh')})",
            "hardware_used": _fp(train_md, "hardware") or "unknown",
        },
        "carbon_efficiency": {
            "label": efficiency["label"],
            "value": efficiency["value"],
            "unit": efficiency["unit"],
            "classes": " ".join(f"{n}<{b:g}" for n, b in EFFICIENCY_CLASSES if math.isfinite(b)) + " E>=1000",
        },
        "training_data_fingerprint": fingerprint,
    }
    front = {k: v for k, v in front.items() if v is not None}
    headline_txt = (
        f"`{headline_name}` = {metrics[headline_name]:.4g}"
        if headline_name in metrics
        else "no headline metric"
    )
    rows = "\n".join(f"| {k} | {v:.6g} |" for k, v in sorted(metrics.items()))
    fp_rows = "\n".join(
        f"| {label} | {_fp(md, 'status') or 'unmeasured'} | {_fmt(_fp(md, 'wall_s'), ' s')} | "
        f"{_fmt(_fp(md, 'energy_kwh'), ' kWh')} | {_fmt(None if _fp(md, 'co2e_kg') is None else _fp(md, 'co2e_kg') * 1000, ' g')} | "
        f"{_fmt(_fp(md, 'water_l'), ' L')} |"
        for label, md in (("training", train_md), ("evaluation", eval_md))
    )
    reason = _fp(train_md, "unmeasured_reason")
    body = f"""
# {model}

{model_description.strip() or model_type}

Trained and evaluated by climate-data-platform (Dagster assets `{model}` and `{evaluation}`; this card is
`{model}_card`, so the asset lineage shows where every number below comes from).

## Data

{dataset_title or dataset} ({dataset_homepage or "no home page recorded"}). Licence of the source data:
{license_text or "unknown"}; the model inherits its terms.{
        f" Dataset card: [{dataset_card_relpath(dataset)}](../../{dataset_card_relpath(dataset)}) (`{dataset_card}`)."
        if dataset_card
        else ""
    }{f" This run read: {source_label}." if source_label else ""}

## Split and evaluation

Metrics are on the `{split}` split as computed by `{evaluation}`; headline {headline_txt}.

| metric | value |
|---|---|
{rows}

## Training data fingerprint

{_fingerprint_section(fingerprint)}

## Footprint

Carbon-efficiency label **{efficiency["label"]}** ({_fmt(efficiency["value"])} {
        efficiency["unit"]
    }; classes, in g CO2e per
unit of the headline metric: A+ < 0.1, A < 1, B < 10, C < 100, D < 1000, E above).

| step | status | wall time | energy | CO2e | water |
|---|---|---|---|---|---|
{fp_rows}

Method: {_fp(train_md, "method") or "unmeasured"}{
        f" (reason: {reason})" if reason else ""
    }. CO2e = energy x grid
intensity; water = energy x (on-site WUE + off-site water intensity of electricity). See the README, "Footprint
accounting", for the settings, defaults and sources.

## Intended use and limits

For research on the platform's climate datasets and for comparing runs of this pipeline. Unless the dataset's
source was configured to the full data (`CDP_{dataset.upper()}_SOURCE`), the model was trained on the small
synthetic sample shipped in `assets/{
        dataset
    }/`: its metrics show that the pipeline works end to end and are not
comparable to the paper's figures on the full data. Not for operational decisions.
"""
    return "---\n" + yaml.safe_dump(front, sort_keys=False, allow_unicode=True) + "---\n" + body.lstrip("\n")


def parse_card(text: str) -> tuple[dict, str]:
    """(front matter, body) of a model card."""
    if not text.startswith("---\n"):
        raise ValueError("model card has no YAML front matter")
    front, _, body = text[4:].partition("\n---\n")
    return yaml.safe_load(front), body


# ---------------------------------------------------------------------------------------------------------------
# assets


def card_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=CARD_SCHEMA)


def _latest_metadata(context: dg.AssetExecutionContext, key: dg.AssetKey) -> tuple[dict, str | None]:
    event = context.instance.get_latest_materialization_event(key)
    if event is None or event.asset_materialization is None:
        return {}, None
    return dict(event.asset_materialization.metadata), event.run_id


def _model_type(obj: Any) -> str:
    t = type(obj)
    return f"{t.__module__}.{t.__qualname__}"


def evaluation_of(
    eval_md: dict[str, Any], loaded: Any, pair: ModelPair
) -> tuple[EvaluationResult | None, dict[str, float], str | None, float | None]:
    """(result, this model's metrics, headline name, headline value) from the typed result of the evaluation's
    latest materialisation, else from the loaded evaluation object; empty when neither holds one."""
    result = read_evaluation(eval_md)
    if result is None and isinstance(loaded, EvaluationResult):
        result = loaded
    if result is None:
        return None, {}, None, None
    scores = result.for_model(pair.model)
    return result, dict(scores.metrics), scores.headline, scores.headline_value


def build_model_card_asset(pair: ModelPair, dataset, model_description: str = "") -> dg.AssetsDefinition:
    """The card asset of one model (see the module docstring)."""
    model_name, eval_name = pair.model.to_user_string(), pair.evaluation.to_user_string()
    ds_name = getattr(dataset, "name", None) or pair.dataset or pair.group
    card_rel = f"{CARDS_DIR}/{pair.card_name}/README.md"

    @dg.asset(
        key=pair.card_key,
        group_name=pair.group,
        kinds={"huggingface", "markdown"},
        tags=role_tags(Role.CARD, pair.dataset),
        ins={"model": dg.AssetIn(key=pair.model), "evaluation": dg.AssetIn(key=pair.evaluation)},
        required_resource_keys={"lake"},
        description=(
            f"Hugging Face model card of `{model_name}` (`{card_rel}` on the data root): "
            f"licence and dataset, the metrics of `{eval_name}`, the training footprint as `co2_eq_emissions`, "
            "and the carbon-efficiency label."
        ),
    )
    def _card(context: dg.AssetExecutionContext, model, evaluation) -> dg.MaterializeResult:
        lake = context.resources.lake
        train_md, model_run = _latest_metadata(context, pair.model)
        eval_md, eval_run = _latest_metadata(context, pair.evaluation)
        result, metrics, headline_name, headline = evaluation_of(eval_md, evaluation, pair)
        train_kg, eval_kg = _fp(train_md, "co2e_kg"), _fp(eval_md, "co2e_kg")
        total_g = None if train_kg is None else (float(train_kg) + float(eval_kg or 0.0)) * 1000
        higher_is_better = result.higher_is_better if result is not None else True
        efficiency = carbon_efficiency(total_g, headline_name, headline, higher_is_better)
        split = result.split if result is not None else "test"
        text = render_card(
            model=model_name,
            dataset=ds_name,
            dataset_title=getattr(dataset, "title", ""),
            dataset_homepage=getattr(dataset, "homepage", ""),
            license_text=getattr(dataset, "license", "unknown"),
            evaluation=eval_name,
            split=split,
            metrics=metrics,
            headline_name=headline_name,
            train_md=train_md,
            eval_md=eval_md,
            efficiency=efficiency,
            model_description=model_description,
            model_type=_model_type(model),
            dataset_card=lake.url(dataset_card_relpath(ds_name)) if load_dataset_card(ds_name) else None,
            source_label=run_label(ds_name, lake),
        )
        lake.write_bytes(card_rel, text.encode())
        row = {
            "model": model_name,
            "dataset": ds_name,
            "evaluation": eval_name,
            "model_run_id": model_run,
            "evaluation_run_id": eval_run,
            "headline_metric_name": headline_name,
            "headline_metric": headline,
            "training_energy_kwh": _fp(train_md, "energy_kwh"),
            "training_co2e_kg": train_kg,
            "training_water_l": _fp(train_md, "water_l"),
            "evaluation_energy_kwh": _fp(eval_md, "energy_kwh"),
            "evaluation_co2e_kg": eval_kg,
            "evaluation_water_l": _fp(eval_md, "water_l"),
            "footprint_status": _fp(train_md, "status") or "unmeasured",
            "total_co2e_g": total_g,
            "carbon_efficiency_value": efficiency["value"],
            "carbon_efficiency_unit": efficiency["unit"],
            "carbon_efficiency_label": efficiency["label"],
            "license": getattr(dataset, "license", "unknown"),
            "card_path": lake.url(card_rel),
            "created_at": datetime.now(UTC),
        }
        lake.write_parquet(card_frame([row]), f"{CARDS_DIR}/{pair.card_name}/card.parquet")
        return dg.MaterializeResult(
            metadata={
                "path": dg.MetadataValue.path(lake.url(card_rel)),
                "carbon_efficiency_label": efficiency["label"],
                "training_co2e_g": dg.MetadataValue.float(
                    float(train_kg) * 1000 if train_kg is not None else math.nan
                ),
                "headline_metric_name": headline_name or "",
                "card": dg.MetadataValue.md(text),
            }
        )

    return _card


def build_model_cards_index_asset(card_keys: list[dg.AssetKey]) -> dg.AssetsDefinition:
    @dg.asset(
        key=MODEL_CARDS_KEY,
        group_name=PLATFORM_GROUP,
        kinds={"parquet", "polars"},
        tags=role_tags(Role.CARD),
        deps=card_keys,
        required_resource_keys={"lake"},
    )
    def platform_model_cards(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        """Every model's card in one table (one `card.parquet` per model under `model_cards/`, read by dbt's
        `platform.model_cards` source): headline metric, training and evaluation footprint, carbon-efficiency
        label, and the path of the card."""
        lake = context.resources.lake
        if not lake.exists(CARDS_SCHEMA_FILE):
            lake.write_parquet(card_frame([]), CARDS_SCHEMA_FILE)
        files = [lake.relative(p) for p in lake.glob(f"{CARDS_DIR}/*/card.parquet")]
        cards = (
            pl.concat([lake.read_parquet(f) for f in files], how="vertical_relaxed")
            if files
            else card_frame([])
        )
        table = "| model | headline | g CO2e (train+eval) | label |\n|---|---|---|---|\n" + "\n".join(
            f"| {r['model']} | {r['headline_metric_name']} = {_fmt(r['headline_metric'])} | {_fmt(r['total_co2e_g'])} "
            f"| {r['carbon_efficiency_label']} |"
            for r in cards.sort("dataset", "model").iter_rows(named=True)
        )
        return dg.MaterializeResult(
            metadata={"dagster/row_count": cards.height, "models": dg.MetadataValue.md(table)}
        )

    return platform_model_cards


def build_platform_assets(assets_defs: Sequence, datasets: Sequence) -> list[dg.AssetsDefinition]:
    """Everything this module adds to the code location: a card per discovered model and the card index."""
    by_name = {ds.name: ds for ds in datasets}
    pairs = find_model_pairs(assets_defs)
    specs = _specs(assets_defs)
    cards = [
        build_model_card_asset(p, by_name.get(p.dataset or ""), specs[p.model].description or "")
        for p in pairs
    ]
    return [*cards, build_model_cards_index_asset([p.card_key for p in pairs])]


__all__ = [
    "MODEL_CARDS_KEY",
    "ModelPair",
    "build_platform_assets",
    "carbon_efficiency",
    "find_model_pairs",
    "parse_card",
    "render_card",
]
