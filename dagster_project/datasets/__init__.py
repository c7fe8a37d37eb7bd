"""Dataset packages. Each subpackage `datasets/<name>/` exports `DATASET: Dataset` (built by `define_dataset`); the
platform finds them by itself, so adding a dataset needs no edit here (see docs/adding-a-dataset.md). Packages kept
elsewhere are loaded too when named in `CDP_DATASET_PACKAGES` (`settings.dataset_packages()`)."""

import importlib
import importlib.util
import pkgutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from dagster_project import settings

# The modules of a dataset package that hold its Dagster assets (every asset defined in them is the dataset's).
ASSET_MODULES = ("assets", "models")
# Where a dataset package may ship its own dbt models (`<package>/dbt/models/{staging,intermediate,marts}/<name>/`);
# the platform adds the folder to dbt's model-paths (`dagster_project.dbt.dbt_vars`).
DBT_MODELS_DIR = ("dbt", "models")


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
    # The Python package the dataset lives in (its `card` module, its own dbt models).
    package: str = ""
    extra: dict = field(default_factory=dict)


# The optional hooks a dataset's `assets` module may define, by the names it defines them under.
HOOKS = {
    "partitions": "PARTITIONS",
    "discover_partitions": "discover_partitions",
    "partitions_for_files": "partitions_for_files",
    "list_remote": "list_remote",
}


def define_dataset(package: str, *, title: str, modules: Sequence[str] = ASSET_MODULES, **fields) -> Dataset:
    """The `Dataset` of the package `package` (call it as `define_dataset(__name__, title=..., license=...)` in the
    package's `__init__.py`). Its name is the package's last component; its assets are every asset defined in the
    package's `assets` and `models` modules; the partition and sensor hooks are read from the `assets` module
    (`PARTITIONS`, `discover_partitions`, `partitions_for_files`, `list_remote`) where it defines them."""
    loaded = [importlib.import_module(f"{package}.{m}") for m in modules]
    hooks = {f: getattr(loaded[0], attr) for f, attr in HOOKS.items() if loaded and hasattr(loaded[0], attr)}
    return Dataset(
        name=package.rsplit(".", 1)[-1],
        title=title,
        defs=dg.Definitions(assets=dg.load_assets_from_modules(loaded)),
        package=package,
        **{**hooks, **fields},
    )


def _package_names() -> list[str]:
    own = sorted(m.name for m in pkgutil.iter_modules(__path__) if m.ispkg)
    return [f"{__name__}.{name}" for name in own] + settings.dataset_packages()


def load_datasets() -> list[Dataset]:
    found = []
    for package in _package_names():
        dataset = getattr(importlib.import_module(package), "DATASET", None)
        if isinstance(dataset, Dataset):
            found.append(dataset)
    return found


def package_of(dataset: str) -> str:
    """The package of a dataset by name (its own folder here, else the configured package that defines it)."""
    for ds in load_datasets():
        if ds.name == dataset and ds.package:
            return ds.package
    return f"{__name__}.{dataset}"


def dbt_model_paths() -> list[str]:
    """dbt model folders that dataset packages ship themselves (`<package>/dbt/models`), found without importing
    the packages (the dbt wiring needs them before the definitions are built)."""
    out = []
    for package in _package_names():
        spec = importlib.util.find_spec(package)
        for location in (spec.submodule_search_locations or []) if spec else []:
            folder = Path(location).joinpath(*DBT_MODELS_DIR)
            if folder.is_dir():
                out.append(str(folder.resolve()))
    return out
