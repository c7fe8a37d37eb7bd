"""Dataset cards: one Hugging Face dataset card (`README.md` with YAML front matter) per dataset, built by one
factory from each dataset's static description (`datasets/<name>/card.py`, a `DatasetCard`) and from what this
platform read and validated, read back from the Dagster instance.

Each dataset gets `<dataset>_card` in its group. Its upstream assets (`deps`, so nothing big is loaded) are the
dataset's validated tables: every asset that an asset check of the dataset targets. The card holds:

- front matter: `license` (the Hub id of the licence as published, `unknown` where the research found none) and
  `license_published` (the published text, or "not found"), `pretty_name`, `task_categories`, `size_categories`
  (from the published record count), `source_urls`, `paper`, `citation` (BibTeX) and `platform_run` (the source
  this run read and its counts);
- the formats and variants the reader accepts, which files are optional, the official split and how it is applied;
- the counts this run ingested: raw files and bytes (raw manifest), rows and partitions of each validated table
  (the latest materialisation of each partition);
- every validation rule with its latest result (the latest evaluation of each asset check, per partition);
- the authors' pitfalls this platform fixes, each with the line of the authors' code.

Cards are written to `dataset_cards/<dataset>/README.md` on the data root; model cards link to them.
"""

import importlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import dagster as dg
import yaml

from dagster_project.metadata import run_label
from dagster_project.roles import Role, role_tags

CARDS_DIR = "dataset_cards"
CARD_MODULE = "card"  # datasets/<name>/card.py exports CARD: DatasetCard

# Hugging Face `size_categories` buckets: (upper bound exclusive, label).
SIZE_CATEGORIES: tuple[tuple[float, str], ...] = (
    (1e3, "n<1K"),
    (1e4, "1K<n<10K"),
    (1e5, "10K<n<100K"),
    (1e6, "100K<n<1M"),
    (1e7, "1M<n<10M"),
    (1e8, "10M<n<100M"),
    (1e9, "100M<n<1B"),
    (1e10, "1B<n<10B"),
    (1e11, "10B<n<100B"),
    (1e12, "100B<n<1T"),
    (float("inf"), "n>1T"),
)
NOT_FOUND = "not found"


@dataclass(frozen=True)
class Pitfall:
    """A problem in the authors' code or release that this platform handles, with where it is."""

    problem: str
    authors_code: str  # file (and function) and the line as written by the authors
    fix: str  # what the platform does instead, and where


@dataclass(frozen=True)
class DatasetCard:
    """The static part of a dataset card (what the dataset is as published, what the reader accepts)."""

    pretty_name: str
    license_published: str  # as published, or NOT_FOUND
    license_note: str  # where the licence was read, or what was searched
    task_categories: tuple[str, ...]
    published_records: int  # size of the published dataset, for `size_categories`
    records_what: str  # what a record is ("GEDI footprints", "boards", ...)
    source_urls: tuple[str, ...]
    paper: str
    citation: str  # BibTeX
    formats: tuple[str, ...]  # formats and layout variants the reader accepts
    optional_files: tuple[str, ...]
    split: str  # the official split and how the platform applies it
    pitfalls: tuple[Pitfall, ...]
    language: tuple[str, ...] = ()
    tags: tuple[str, ...] = field(default_factory=tuple)


def size_category(n: int) -> str:
    return next(label for bound, label in SIZE_CATEGORIES if n < bound)


def load_card(dataset_name: str) -> DatasetCard | None:
    """`CARD` of the dataset package's `card.py` (`dagster_project/datasets/<name>/card.py`, or the configured
    package of a dataset kept elsewhere), or None when the dataset has none."""
    from dagster_project.datasets import package_of

    module_name = f"{package_of(dataset_name)}.{CARD_MODULE}"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            return None
        raise
    card = getattr(module, "CARD", None)
    return card if isinstance(card, DatasetCard) else None


# ---------------------------------------------------------------------------------------------------------------
# what this run read and validated (from the instance and the raw manifest)


@dataclass
class TableCount:
    table: str
    rows: int | None
    partitions: int  # 0 for an unpartitioned table


@dataclass
class RuleOutcome:
    check: str
    table: str
    rule: str
    passed: int = 0  # partitions (or 1 for an unpartitioned table) where the rule passed
    failed: int = 0
    unexpected: int = 0


@dataclass
class CheckOutcome:
    check: str
    table: str
    description: str
    blocking: bool
    passed: int = 0
    failed: int = 0
    rules: list[RuleOutcome] = field(default_factory=list)


@dataclass
class RunFacts:
    source: str
    raw_files: int
    raw_bytes: int
    tables: list[TableCount]
    checks: list[CheckOutcome]


def _value(v: Any) -> Any:
    return getattr(v, "value", v)


def _latest_per_partition(fetch_page) -> dict[str | None, Any]:
    """The latest record of each partition (None for an unpartitioned asset), from newest-first pages of
    `fetch_page(cursor) -> ([(partition, record)], next_cursor, has_more)`. Paging stops at the first page that
    names no new partition: a long history (nightly re-validation of every partition) is not read to the end."""
    out: dict[str | None, Any] = {}
    cursor = None
    while True:
        records, cursor, has_more = fetch_page(cursor)
        before = len(out)
        for partition, record in records:
            out.setdefault(partition, record)
        if not has_more or not records or len(out) == before:
            return out


def table_counts(instance: dg.DagsterInstance, key: dg.AssetKey) -> TableCount:
    def page(cursor):
        res = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=key), limit=500, cursor=cursor)
        recs = [(r.partition_key, r.asset_materialization) for r in res.records]
        return recs, res.cursor, res.has_more

    latest = _latest_per_partition(page)
    rows = [_value(m.metadata.get("dagster/row_count")) for m in latest.values() if m is not None]
    known = [int(r) for r in rows if r is not None]
    partitions = len([p for p in latest if p is not None])
    return TableCount(key.to_user_string(), sum(known) if known else None, partitions)


def check_outcome(instance: dg.DagsterInstance, spec: dg.AssetCheckSpec) -> CheckOutcome:
    key = spec.key
    out = CheckOutcome(
        check=key.name,
        table=key.asset_key.to_user_string(),
        description=spec.description or "",
        blocking=bool(spec.blocking),
    )

    def page(cursor):
        page_recs = instance.event_log_storage.get_asset_check_execution_history(
            key, limit=500, cursor=cursor
        )
        # a check planned in a run whose step failed before evaluating it holds its planned event, not a result
        recs = [r for r in page_recs if isinstance(r.evaluation, dg.AssetCheckEvaluation)]
        # A check of a partitioned asset is not partitioned itself, so its records carry no partition: take it
        # from the run that evaluated it (one run per partition).
        missing = sorted({r.run_id for r in recs if r.partition is None})
        tags = (
            {
                run.run_id: run.tags.get("dagster/partition")
                for run in instance.get_runs(dg.RunsFilter(run_ids=missing))
            }
            if missing
            else {}
        )
        evaluated = [(r.partition or tags.get(r.run_id), r.evaluation) for r in recs]
        return evaluated, (page_recs[-1].id if page_recs else None), len(page_recs) == 500

    rules: dict[str, RuleOutcome] = {}
    for evaluation in _latest_per_partition(page).values():
        if evaluation.passed:
            out.passed += 1
        else:
            out.failed += 1
        table = _value(evaluation.metadata.get("rule_results")) or []
        for row in table if isinstance(table, list) else []:
            rule = rules.setdefault(
                str(row.get("rule")), RuleOutcome(out.check, out.table, str(row.get("rule")))
            )
            if row.get("passed"):
                rule.passed += 1
            else:
                rule.failed += 1
            rule.unexpected += int(row.get("unexpected_count") or 0)
    out.rules = sorted(rules.values(), key=lambda r: r.rule)
    return out


def run_facts(instance, lake, dataset: str, tables: Sequence[dg.AssetKey], checks: Sequence) -> RunFacts:
    from dagster_project.raw import read_manifest

    manifest = read_manifest(lake, dataset)
    return RunFacts(
        source=run_label(dataset, lake),
        raw_files=manifest.height,
        raw_bytes=int(manifest["size"].sum() or 0) if manifest.height else 0,
        tables=[table_counts(instance, k) for k in tables],
        checks=[check_outcome(instance, s) for s in checks],
    )


# ---------------------------------------------------------------------------------------------------------------
# rendering


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


class _CardDumper(yaml.SafeDumper):
    """Multi-line strings (the BibTeX citation) as YAML literal blocks, readable in the card as written."""


_CardDumper.add_representer(
    str,
    lambda dumper, v: dumper.represent_scalar("tag:yaml.org,2002:str", v, style="|" if "\n" in v else None),
)


def render_dataset_card(
    dataset: str, card: DatasetCard, facts: RunFacts, *, title: str = "", homepage: str = ""
) -> str:
    """The card text: Hugging Face dataset-card front matter, then the human sections."""
    from dagster_project.model_cards import hf_license

    lic, lic_name = hf_license(card.license_published if card.license_published != NOT_FOUND else "unknown")
    front: dict[str, Any] = {
        "pretty_name": card.pretty_name,
        "license": lic,
        **({"license_name": lic_name} if lic_name else {}),
        "license_published": card.license_published,
        **({"language": list(card.language)} if card.language else {}),
        "task_categories": list(card.task_categories),
        "size_categories": [size_category(card.published_records)],
        "tags": ["climate-data-platform", dataset, *card.tags],
        "source_urls": list(card.source_urls),
        "paper": card.paper,
        "citation": card.citation.strip() + "\n",
        "platform_run": {
            "source": facts.source,
            "raw_files": facts.raw_files,
            "raw_bytes": facts.raw_bytes,
            "tables": {t.table: {"rows": t.rows, "partitions": t.partitions} for t in facts.tables},
            "checks_passed": sum(c.passed for c in facts.checks),
            "checks_failed": sum(c.failed for c in facts.checks),
            "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
        },
    }
    home = homepage or (card.source_urls[0] if card.source_urls else "not recorded")
    bullets = lambda items: "\n".join(f"- {i}" for i in items) or "- none"  # noqa: E731
    tables = "\n".join(
        f"| `{t.table}` | {'n/a' if t.rows is None else f'{t.rows:,}'} | {t.partitions or '-'} |"
        for t in facts.tables
    )
    checks = "\n".join(
        f"| `{c.table}` | `{c.check}`{' (blocking)' if c.blocking else ''} | "
        f"{'never evaluated' if not (c.passed or c.failed) else ('pass' if not c.failed else 'FAIL')} | "
        f"{c.passed} / {c.failed} | {_md(c.description)} |"
        for c in facts.checks
    )
    rules = "\n".join(
        f"| `{r.check}` | `{_md(r.rule)}` | {'pass' if not r.failed else 'FAIL'} | {r.passed} / {r.failed} | "
        f"{r.unexpected:,} |"
        for c in facts.checks
        for r in c.rules
    )
    pitfalls = "\n".join(
        f"| {_md(p.problem)} | `{_md(p.authors_code)}` | {_md(p.fix)} |" for p in card.pitfalls
    )
    body = f"""
# {card.pretty_name}

{title or dataset}. Home page: {home}.
Written by climate-data-platform (asset `{dataset}_card`); its upstream assets are the validated tables below.

## Licence

{card.license_published}: {card.license_note}

## Formats and variants the reader accepts

{bullets(card.formats)}

## Optional files

{bullets(card.optional_files)}

## Official split and how it is applied

{card.split}

## What this run ingested

Source: {facts.source}. Raw area: {facts.raw_files:,} files, {facts.raw_bytes:,} bytes (raw manifest).

| validated table | rows | partitions |
|---|---|---|
{tables}

## Validation rules and their latest results

Latest evaluation of each check (per partition for partitioned tables): passed / failed partitions. A rule
evaluated once per split or partition counts each evaluation.

| table | check | latest result | passed / failed | what it checks |
|---|---|---|---|---|
{checks}

| check | rule | result | evaluations passed / failed | unexpected rows |
|---|---|---|---|---|
{rules or "| - | no rule results recorded | - | - | - |"}

## Authors' pitfalls this platform fixes

| problem | authors' code | what the platform does |
|---|---|---|
{pitfalls}

## Citation

```bibtex
{card.citation.strip()}
```
"""
    meta = yaml.dump(front, Dumper=_CardDumper, sort_keys=False, allow_unicode=True, width=120)
    return "---\n" + meta + "---\n" + body.lstrip("\n")


def parse_dataset_card(text: str) -> tuple[dict, str]:
    """(front matter, body) of a dataset card."""
    if not text.startswith("---\n"):
        raise ValueError("dataset card has no YAML front matter")
    front, _, body = text[4:].partition("\n---\n")
    return yaml.safe_load(front), body


# ---------------------------------------------------------------------------------------------------------------
# assets


def card_key(dataset_name: str) -> dg.AssetKey:
    return dg.AssetKey(f"{dataset_name}_card")


def card_relpath(dataset_name: str) -> str:
    return f"{CARDS_DIR}/{dataset_name}/README.md"


def validated_checks(ds) -> list[dg.AssetCheckSpec]:
    """Every asset check spec of the dataset's own definitions (on its assets or as separate asset checks)."""
    specs = {}
    for d in [*(ds.defs.assets or []), *(ds.defs.asset_checks or [])]:
        for spec in getattr(d, "check_specs", None) or []:
            specs[spec.key] = spec
    return sorted(specs.values(), key=lambda s: (s.asset_key.to_user_string(), s.name))


def build_dataset_card_asset(ds, card: DatasetCard) -> dg.AssetsDefinition:
    checks = validated_checks(ds)
    tables = sorted({s.asset_key for s in checks}, key=lambda k: k.to_user_string())

    @dg.asset(
        key=card_key(ds.name),
        group_name=ds.name,
        kinds={"huggingface", "markdown"},
        tags=role_tags(Role.CARD, ds.name),
        deps=tables,
        required_resource_keys={"lake"},
        description=(
            f"Hugging Face dataset card of {ds.name} (`{card_relpath(ds.name)}` on the data root): licence, "
            "task and size categories, sources and citation; the formats the reader accepts, optional files, the "
            "official split; what this run ingested, every validation rule with its latest result, and the "
            "authors' pitfalls this platform fixes."
        ),
    )
    def _card(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        lake = context.resources.lake
        facts = run_facts(context.instance, lake, ds.name, tables, checks)
        text = render_dataset_card(ds.name, card, facts, title=ds.title, homepage=ds.homepage)
        lake.write_bytes(card_relpath(ds.name), text.encode())
        return dg.MaterializeResult(
            metadata={
                "path": dg.MetadataValue.path(lake.url(card_relpath(ds.name))),
                "source": facts.source,
                "raw_files": facts.raw_files,
                "checks_failed": sum(c.failed for c in facts.checks),
                "tables": dg.MetadataValue.json({t.table: t.rows for t in facts.tables}),
                "card": dg.MetadataValue.md(text),
            }
        )

    return _card


def build_dataset_card_assets(datasets: Sequence) -> list[dg.AssetsDefinition]:
    """A card asset for every dataset with a `card.py`."""
    out = []
    for ds in datasets:
        card = load_card(ds.name)
        if card is not None:
            out.append(build_dataset_card_asset(ds, card))
    return out


__all__ = [
    "DatasetCard",
    "Pitfall",
    "build_dataset_card_assets",
    "card_relpath",
    "parse_dataset_card",
    "render_dataset_card",
    "size_category",
]
