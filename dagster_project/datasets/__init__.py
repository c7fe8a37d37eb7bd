"""Dataset packages. Each subpackage `datasets/<name>/` exports `DATASET: Dataset`; the platform finds them by
itself, so adding a dataset needs no edit here (see docs/adding-a-dataset.md)."""

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field

import dagster as dg


@dataclass(frozen=True)
class Dataset:
    """What the platform needs to know about one dataset."""

    name: str
    defs: dg.Definitions
    title: str = ""
    # Partitioned datasets (per tile, per board, ...) discover their partition keys from the source location.
    partitions: dg.DynamicPartitionsDefinition | None = None
    discover_partitions: Callable[[str], list[str]] | None = None
    # Which partitions a set of changed source files affects (relative paths); default: re-discover and take
    # the new partition keys, or all of them when an existing file changed. Used by the source sensor.
    partitions_for_files: Callable[[str, list[str]], list[str]] | None = None
    # For HTTP sources (no directory listing): {relpath: fingerprint (sha/etag)} from the host's API.
    list_remote: Callable[[str], dict[str, str]] | None = None
    # Licence of the source data (used by model cards) and its home page.
    license: str = "unknown"
    homepage: str = ""
    extra: dict = field(default_factory=dict)


def load_datasets() -> list[Dataset]:
    found = []
    for mod in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if not mod.ispkg:
            continue
        module = importlib.import_module(f"{__name__}.{mod.name}")
        dataset = getattr(module, "DATASET", None)
        if isinstance(dataset, Dataset):
            found.append(dataset)
    return found
