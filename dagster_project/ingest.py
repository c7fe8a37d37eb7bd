"""The one ingest path every dataset shares: the raw-files asset, and validated tables with their blocking checks.

- `raw_files_asset(dataset, ...)` builds `<dataset>_raw_files`: it resolves the source location (run config, else
  `CDP_<NAME>_SOURCE`, else the shipped sample), lets the dataset copy its files into the raw area (by default every
  file of a folder / `s3://` source matching its patterns, or a published record over HTTPS), and records the
  manifest with what changed since the last run. It declares `role_tags(Role.RAW, dataset)`.
- `table_asset(name, dataset=..., check_description=...)` declares a typed table written by Python, its validation
  check (blocking by default) and `role_tags(Role.TABLE, dataset)`; the decorated function returns a `Table` (the
  frame, its `ValidationReport`, its own metadata) and the helper yields the output with the shared table metadata
  and then the check result. `table_out` / `table_check` / `emit_table` do the same inside a multi-asset.

A dataset keeps only what is its own: which files make up its source, its readers, its rules and its models.
"""

import inspect
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import dagster as dg
import polars as pl

from dagster_project import records, settings
from dagster_project.metadata import table_metadata
from dagster_project.raw import ingest_raw, is_http, list_source_files, read_manifest
from dagster_project.resources import SourceCredentials
from dagster_project.roles import Role, role_tags
from dagster_project.storage import Lake
from dagster_project.validation import ValidationReport

TABLE_KINDS = frozenset({"polars", "parquet"})

# ----------------------------------------------------------------------------------------------- raw files


class SourceConfig(dg.Config):
    """Where to read the dataset from. Empty `location` means `CDP_<NAME>_SOURCE`, else the shipped sample in
    `assets/<name>`. A dataset whose source takes more settings subclasses this (and documents them)."""

    location: str = ""


@dataclass(frozen=True)
class RawSource:
    """What a dataset's ingest function receives: where to read, the run's config and resources, and the log."""

    dataset: str
    location: str
    config: SourceConfig
    lake: Lake
    credentials: SourceCredentials
    log: Any  # the step's logger (`.info`, `.warning`)

    def copy(self, relpaths: list[str] | None = None, **kwargs) -> pl.DataFrame:
        """`raw.ingest_raw` of this source into this dataset's raw area (kwargs: sha256, md5, headers, url_for)."""
        return ingest_raw(self.lake, self.dataset, self.location, relpaths, log_fn=self.log.info, **kwargs)


def folder_or_record(
    patterns: tuple[str, ...] | None = None, record: "records.RecordSource | None" = None
) -> Callable[[RawSource], pl.DataFrame]:
    """The default ingest: every file of a folder / `s3://` source matching `patterns` (all files without), or,
    for an `https://` location, the published record `record` (downloaded, verified and unpacked)."""

    def ingest(src: RawSource) -> pl.DataFrame:
        if is_http(src.location):
            if record is None:
                raise ValueError(
                    f"{src.location}: {src.dataset} reads no HTTP source (a folder or s3:// URL)"
                )
            return record.ingest(
                src.lake, src.location, headers=src.credentials.zenodo_headers(), log_fn=src.log.info
            )
        return src.copy(list_source_files(src.location, patterns))

    return ingest


def changes(before: pl.DataFrame, current: pl.DataFrame) -> dict[str, int]:
    """How many of this run's files are new, changed (other sha256) or unchanged against the previous manifest."""
    old = dict(zip(before["relpath"].to_list(), before["sha256"].to_list(), strict=True))
    rows = zip(current["relpath"].to_list(), current["sha256"].to_list(), strict=True)
    kinds = ["new" if rel not in old else "changed" if old[rel] != sha else "unchanged" for rel, sha in rows]
    return {f"files_{k}": kinds.count(k) for k in ("new", "changed", "unchanged")}


def raw_files_asset(
    dataset: str,
    *,
    description: str,
    kinds: set[str],
    ingest: Callable[[RawSource], pl.DataFrame] | None = None,
    config: type[SourceConfig] = SourceConfig,
    metadata: Callable[[pl.DataFrame], Mapping[str, Any]] | None = None,
) -> dg.AssetsDefinition:
    """`<dataset>_raw_files`: the dataset's source files copied byte for byte into `raw/<dataset>/` with their
    manifest (see `dagster_project.raw`). `ingest(src)` copies them and returns this run's manifest rows (what the
    tables downstream read; default `folder_or_record()`); `metadata(manifest)` adds the dataset's own counts to
    the shared ones (manifest table, source, files, bytes, new/changed/unchanged files)."""
    ingest = ingest or folder_or_record()

    @dg.asset(
        name=f"{dataset}_raw_files",
        group_name=dataset,
        kinds=kinds,
        tags=role_tags(Role.RAW, dataset),
        description=description,
    )
    def raw_files(
        context: dg.AssetExecutionContext, config: config, lake: Lake, credentials: SourceCredentials
    ) -> pl.DataFrame:
        location = config.location or settings.source_location(dataset)
        context.log.info(f"reading {dataset} from {location}")
        before = read_manifest(lake, dataset)
        current = ingest(RawSource(dataset, location, config, lake, credentials, context.log))
        context.add_output_metadata(
            {
                **table_metadata(current),
                "source": location,
                "total_bytes": int(current["size"].sum()),
                **changes(before, current),
                **(metadata(current) if metadata else {}),
            }
        )
        return current

    return raw_files


# ------------------------------------------------------------------------------------------ validated tables


@dataclass
class Table:
    """What a table asset returns: the value the IO manager stores (a frame; None when the asset wrote its own
    files), the validation report of its check, and its own metadata. `describe` is the frame the shared table
    metadata (row count, schema, preview) is computed from: the value by default, e.g. its scalar columns
    instead, or None when the asset reports its row count itself. `skipped` passes the check with a reason
    instead of a report (an optional source that is absent)."""

    value: pl.DataFrame | None
    report: ValidationReport | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    describe: pl.DataFrame | None | bool = True
    preview: bool = True
    skipped: str | None = None

    def output_metadata(self) -> dict[str, Any]:
        frame = self.value if self.describe is True else self.describe
        shared = table_metadata(frame, preview=self.preview) if isinstance(frame, pl.DataFrame) else {}
        return {**shared, **self.metadata}

    def check_result(self, check: str, asset: str) -> dg.AssetCheckResult:
        if self.report is None:
            return dg.AssetCheckResult(
                check_name=check, asset_key=asset, passed=True, metadata={"skipped": self.skipped or ""}
            )
        return self.report.check_result(check, asset_key=asset)


def check_name(asset: str, check: str | None = None) -> str:
    return check or f"{asset}_valid"


def table_check(
    asset: str, description: str, *, check: str | None = None, blocking: bool = True
) -> dg.AssetCheckSpec:
    """The check a table's validation reports to (`<asset>_valid` unless named). Blocking by default: nothing
    downstream runs on a table that failed it."""
    return dg.AssetCheckSpec(
        check_name(asset, check), asset=asset, blocking=blocking, description=description
    )


def table_out(dataset: str, description: str, kinds: set[str] = TABLE_KINDS) -> dg.AssetOut:
    """An output of a multi-asset that writes several tables (role `table`)."""
    return dg.AssetOut(kinds=set(kinds), description=description, tags=role_tags(Role.TABLE, dataset))


def emit_table(
    asset: str, table: Table, *, check: str | None = None, output_name: str | None = None
) -> Iterator[dg.Output | dg.AssetCheckResult]:
    """The output of a table (with the shared metadata), then its check result: validation runs in the same step."""
    kwargs = {"output_name": output_name} if output_name else {}
    yield dg.Output(table.value, metadata=table.output_metadata(), **kwargs)
    yield table.check_result(check_name(asset, check), asset)


def table_asset(
    name: str,
    *,
    dataset: str,
    check_description: str,
    check: str | None = None,
    blocking: bool = True,
    kinds: set[str] = TABLE_KINDS,
    **asset_kwargs,
) -> Callable[[Callable[..., Table]], dg.AssetsDefinition]:
    """Decorator: a typed table of `dataset` written by Python, validated in the same step by the check
    `check` (default `<name>_valid`; blocking unless `blocking=False`). The function takes the asset's inputs and
    resources as usual and returns a `Table`. Other `dg.asset` arguments (partitions_def, deps, op_tags) pass
    through."""

    def decorate(fn: Callable[..., Table]) -> dg.AssetsDefinition:
        def body(*args, **kwargs):
            yield from emit_table(name, fn(*args, **kwargs), check=check)

        # Dagster reads the inputs, resources and config from the signature and the description from the docstring;
        # the outputs are the helper's (the function returns a `Table`, not the stored value).
        body.__signature__ = inspect.signature(fn).replace(return_annotation=inspect.Signature.empty)
        body.__name__, body.__doc__, body.__module__ = fn.__name__, fn.__doc__, fn.__module__

        return dg.asset(
            name=name,
            group_name=dataset,
            kinds=set(kinds),
            tags=role_tags(Role.TABLE, dataset),
            check_specs=[table_check(name, check_description, check=check, blocking=blocking)],
            **asset_kwargs,
        )(body)

    return decorate
