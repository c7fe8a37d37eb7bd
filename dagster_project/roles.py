"""What an asset is for, declared once as an asset tag, so nothing has to guess a role from a name.

Every asset carries `cdp/role` (set by the shared factories and the dbt translator) and `cdp/dataset`. The cards,
the run summary, the automation and the retrain selection find assets through `keys_with_role`, so renaming an
asset never drops it from them. Nothing here imports Dagster: specs are read by duck typing (`.tags`, `.key`).
"""

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any

ROLE_TAG = "cdp/role"
DATASET_TAG = "cdp/dataset"


class Role(StrEnum):
    RAW = "raw"  # source files copied as received, with a manifest
    TABLE = "table"  # a validated table written by Python (parquet), read by dbt
    MART = "mart"  # a dbt model (staging, intermediate or mart)
    MODEL = "model"  # a trained model
    EVALUATION = "evaluation"  # a model's evaluation (returns an EvaluationResult)
    CARD = "card"  # a dataset or model card, or an index of them
    DOCS = "docs"  # generated documentation (dbt docs)
    LOG = "log"  # platform bookkeeping tables (footprint log)
    EXPORT = "export"  # files written for tools outside the platform (e.g. COCO annotations for mmdetection)


def role_tags(role: Role | str, dataset: str | None = None) -> dict[str, str]:
    """Asset tags that declare `role` (and the dataset the asset belongs to)."""
    tags = {ROLE_TAG: str(Role(role))}
    if dataset:
        tags[DATASET_TAG] = dataset
    return tags


def role_of(tags: Mapping[str, Any] | None) -> Role | None:
    value = (tags or {}).get(ROLE_TAG)
    return Role(value) if value else None


def dataset_of(tags: Mapping[str, Any] | None) -> str | None:
    return (tags or {}).get(DATASET_TAG)


def keys_with_role(specs: Iterable[Any], role: Role | str, dataset: str | None = None) -> list[Any]:
    """Keys of the specs (anything with `.key` and `.tags`) that declare `role`, optionally for one dataset."""
    role = Role(role)
    return sorted(
        (
            s.key
            for s in specs
            if role_of(s.tags) == role and (dataset is None or dataset_of(s.tags) == dataset)
        ),
        key=lambda k: k.to_user_string() if hasattr(k, "to_user_string") else str(k),
    )
