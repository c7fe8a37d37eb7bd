"""Validation shared by every dataset: great-expectations 1.x suites and plain-Python rules, reported as Dagster
asset checks whose metadata names each rule, whether it passed, how many rows broke it, and examples with their
source file and row.

GX is imported lazily (it takes seconds to import) and never through `dagster-ge` (stuck below GX 1.0). GX has no
polars engine, so frames are handed to its pandas engine. HTML Data Docs of the latest validation of each suite
are written under `<data root>/validation/data_docs/<suite>/`.
"""

import datetime as dt
import json
import logging
import tempfile
from dataclasses import dataclass, field
from typing import Any

import dagster as dg
import polars as pl

log = logging.getLogger(__name__)
MAX_EXAMPLES = 5


@dataclass(frozen=True)
class Rule:
    """One great-expectations expectation, by its GX class name and keyword arguments."""

    expectation: str
    kwargs: dict[str, Any]
    description: str = ""

    @property
    def label(self) -> str:
        col = self.kwargs.get("column") or self.kwargs.get("column_list") or ""
        args = {k: v for k, v in self.kwargs.items() if k not in ("column", "column_list")}
        arg_txt = ", ".join(f"{k}={_short(v)}" for k, v in args.items())
        return f"{self.expectation}({col}{', ' if col and arg_txt else ''}{arg_txt})"


@dataclass
class RuleResult:
    """Outcome of one rule: `examples` are dicts naming where the bad values are (file, row/tile/board, value)."""

    rule: str
    passed: bool
    unexpected_count: int = 0
    element_count: int | None = None
    examples: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    def describe(self) -> str:
        if self.passed:
            return f"PASS {self.rule}"
        where = "; ".join(_fmt_example(e) for e in self.examples[:MAX_EXAMPLES])
        err = f" error: {self.error}" if self.error else ""
        return (
            f"FAIL {self.rule}: {self.unexpected_count} unexpected{(' e.g. ' + where) if where else ''}{err}"
        )


@dataclass
class ValidationReport:
    suite: str
    results: list[RuleResult]
    row_count: int | None = None
    engine: str = "python"
    data_docs: str | None = None

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def failures(self) -> list[RuleResult]:
        return [r for r in self.results if not r.passed]

    def summary(self) -> str:
        if self.passed:
            return f"{self.suite}: all {len(self.results)} rules passed"
        return f"{self.suite}: {len(self.failures)} of {len(self.results)} rules failed:\n" + "\n".join(
            r.describe() for r in self.failures
        )

    def check_result(
        self, check_name: str | None = None, asset_key: dg.AssetKey | str | None = None
    ) -> dg.AssetCheckResult:
        table = [
            {
                "rule": r.rule,
                "passed": r.passed,
                "unexpected_count": r.unexpected_count,
                "examples": json.dumps(r.examples[:MAX_EXAMPLES], default=str),
            }
            for r in self.results
        ]
        md = "| rule | result | unexpected | examples (file, row, value) |\n|---|---|---|---|\n" + "\n".join(
            f"| `{t['rule']}` | {'✅ pass' if t['passed'] else '❌ FAIL'} | {t['unexpected_count']} | "
            f"{'; '.join(_fmt_example(e) for e in r.examples[:MAX_EXAMPLES]) or '-'} |"
            for t, r in zip(table, self.results, strict=True)
        )
        metadata: dict[str, Any] = {
            "suite": self.suite,
            "engine": self.engine,
            "rules_evaluated": len(self.results),
            "rules_failed": len(self.failures),
            "rules": dg.MetadataValue.md(md),
            "rule_results": dg.MetadataValue.json(table),
        }
        if self.row_count is not None:
            metadata["rows_validated"] = self.row_count
        if self.data_docs:
            metadata["data_docs"] = dg.MetadataValue.path(self.data_docs)
        if not self.passed:
            metadata["failures"] = dg.MetadataValue.md("\n".join(f"- {r.describe()}" for r in self.failures))
        kwargs: dict[str, Any] = {}
        if check_name:
            kwargs["check_name"] = check_name
        if asset_key is not None:
            kwargs["asset_key"] = dg.AssetKey.from_coercible(asset_key)
        return dg.AssetCheckResult(
            passed=self.passed,
            severity=dg.AssetCheckSeverity.ERROR,
            description=self.summary()[:2000],
            metadata=metadata,
            **kwargs,
        )


def combine(suite: str, *reports: ValidationReport) -> ValidationReport:
    """Merge GX and plain-Python reports of one table into one check."""
    engines = sorted({r.engine for r in reports})
    rows = next((r.row_count for r in reports if r.row_count is not None), None)
    docs = next((r.data_docs for r in reports if r.data_docs), None)
    return ValidationReport(suite, [x for r in reports for x in r.results], rows, "+".join(engines), docs)


def python_report(suite: str, results: list[RuleResult], row_count: int | None = None) -> ValidationReport:
    return ValidationReport(suite=suite, results=results, row_count=row_count, engine="python")


def validate_frame(
    df: pl.DataFrame,
    *,
    suite: str,
    rules: list[Rule],
    id_columns: tuple[str, ...] = ("source_file", "source_row"),
    lake=None,
) -> ValidationReport:
    """Run `rules` as one great-expectations suite on `df`.

    Rows are identified in the report by `id_columns` (those present in `df`). If `lake` is given, the suite's
    HTML Data Docs are published under `validation/data_docs/` on it.
    """
    ids = [c for c in id_columns if c in df.columns]
    if lake is None:
        return _run_suite(df, suite, rules, ids, docs_dir=None)
    # GX renders the site into a local folder; it is copied to the lake and removed, whatever happens
    with tempfile.TemporaryDirectory(prefix="cdp-gx-docs-") as docs_dir:
        report = _run_suite(df, suite, rules, ids, docs_dir=docs_dir)
        report.data_docs = _publish_docs(lake, docs_dir, suite)
    return report


def _run_suite(
    df: pl.DataFrame, suite: str, rules: list[Rule], ids: list[str], docs_dir: str | None
) -> ValidationReport:
    """The GX run of `validate_frame`; with `docs_dir`, through a checkpoint that renders Data Docs there."""
    import great_expectations as gx  # lazy: importing GX takes several seconds

    pdf = df.to_pandas()
    context = gx.get_context(mode="ephemeral")
    _quiet_progress_bars(context)
    if docs_dir is not None:
        context.add_data_docs_site(
            site_name="cdp",
            site_config={
                "class_name": "SiteBuilder",
                "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": docs_dir},
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder", "view": _view("IndexPage")},
                "site_section_builders": {s: {"view": _view("Page")} for s in _DOCS_SECTIONS},
            },
        )
    batch_def = (
        context.data_sources.add_pandas(f"{suite}_source")
        .add_dataframe_asset(name=suite)
        .add_batch_definition_whole_dataframe("whole_table")
    )
    gx_suite = context.suites.add(gx.ExpectationSuite(name=suite))
    added = []
    for rule in rules:
        expectation_cls = getattr(gx.expectations, rule.expectation)
        added.append(gx_suite.add_expectation(expectation_cls(**rule.kwargs)))
    result_format: dict[str, Any] = {"result_format": "COMPLETE", "partial_unexpected_count": MAX_EXAMPLES}
    if ids:
        result_format["unexpected_index_column_names"] = ids
    validation = context.validation_definitions.add(
        gx.ValidationDefinition(name=f"{suite}_validation", data=batch_def, suite=gx_suite)
    )
    if docs_dir is not None:
        checkpoint = context.checkpoints.add(
            gx.Checkpoint(
                name=f"{suite}_checkpoint",
                validation_definitions=[validation],
                actions=[gx.checkpoint.UpdateDataDocsAction(name="docs", site_names=["cdp"])],
                result_format=result_format,
            )
        )
        run = checkpoint.run(batch_parameters={"dataframe": pdf})
        gx_result = next(iter(run.run_results.values()))
    else:
        gx_result = validation.run(batch_parameters={"dataframe": pdf}, result_format=result_format)

    results = []
    # GX returns results grouped by domain, not in suite order: pair each rule with its result by expectation id.
    by_id = {res.expectation_config.id: res for res in gx_result.results}
    for rule, exp in zip(rules, added, strict=True):
        results.append(_rule_result(rule, by_id[exp.id], ids))
    return ValidationReport(suite=suite, results=results, row_count=len(df), engine="great_expectations")


# The Data Docs site's sections (GX's defaults); each gets the same page view, with the shared template cache.
_DOCS_SECTIONS = ("expectations", "validations", "profiling")
_JINJA_BYTECODE: dict[str, bytes] = {}


def _view(kind: str) -> dict[str, str]:
    return {"module_name": __name__, "class_name": f"CachedJinja{kind}View"}


def _cached_view(base: type) -> type:
    """GX's Data Docs view `base` whose jinja environment shares compiled templates with every other one in this
    process. GX builds a new view (a new jinja environment) for each suite's docs and compiled its ~20 templates
    again every time: that was most of the cost of publishing a suite's Data Docs. jinja2's bytecode cache keys
    each template by name and checks its source, so the rendered pages are byte for byte the same."""
    import jinja2

    class SharedBytecode(jinja2.BytecodeCache):
        def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
            code = _JINJA_BYTECODE.get(bucket.key)
            if code is not None:
                bucket.bytecode_from_string(code)

        def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
            _JINJA_BYTECODE[bucket.key] = bucket.bytecode_to_string()

    class View(base):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.env.bytecode_cache = SharedBytecode()

    View.__name__ = View.__qualname__ = f"Cached{base.__name__}"
    return View


def __getattr__(name: str):
    # GX instantiates the views by module and class name (site config above); built on first use, so importing
    # this module does not import GX.
    if name in ("CachedJinjaPageView", "CachedJinjaIndexPageView"):
        from great_expectations.render import view

        cls = _cached_view(getattr(view, name.removeprefix("Cached").replace("Jinja", "DefaultJinja", 1)))
        globals()[name] = cls
        return cls
    raise AttributeError(name)


def _quiet_progress_bars(context) -> None:
    """GX draws a tqdm bar per metric batch; in Dagster's logs that is only noise."""
    try:
        from great_expectations.data_context.types.base import ProgressBarsConfig

        context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    except Exception:  # pragma: no cover - cosmetic only
        pass


def _rule_result(rule: Rule, res, ids: list[str]) -> RuleResult:
    info = res.exception_info or {}
    # GX reports a crashed metric as success=False with the error hidden in exception_info: surface it.
    raised = info.get("raised_exception") if isinstance(info, dict) and "raised_exception" in info else None
    if raised is None and isinstance(info, dict):
        raised = any(isinstance(v, dict) and v.get("raised_exception") for v in info.values())
    error = None
    if raised:
        msg = info.get("exception_message") if "exception_message" in info else None
        if msg is None:
            msg = "; ".join(
                str(v.get("exception_message"))
                for v in info.values()
                if isinstance(v, dict) and v.get("raised_exception")
            )
        error = msg or "expectation raised an exception"
    r = res.result or {}
    examples: list[dict[str, Any]] = []
    index_list = r.get("unexpected_index_list") or []
    if index_list and isinstance(index_list[0], dict):
        examples = [dict(e) for e in index_list[:MAX_EXAMPLES]]
    elif r.get("partial_unexpected_list"):
        examples = [{"value": v} for v in r["partial_unexpected_list"][:MAX_EXAMPLES]]
    elif "observed_value" in r and not res.success:
        examples = [{"observed_value": r["observed_value"]}]
    unexpected = int(r.get("unexpected_count") or (0 if res.success else 1))
    return RuleResult(
        rule=rule.label,
        passed=bool(res.success) and not error,
        unexpected_count=unexpected,
        element_count=r.get("element_count"),
        examples=[{k: _jsonable(v) for k, v in e.items()} for e in examples],
        error=error,
    )


def _publish_docs(lake, docs_dir: str, suite: str) -> str | None:
    """Copy the rendered Data Docs site to the lake (replacing the previous one); return its index URL."""
    import os

    try:
        target = f"validation/data_docs/{suite}"
        for root, _dirs, files in os.walk(docs_dir):
            for name in files:
                local = os.path.join(root, name)
                rel = os.path.relpath(local, docs_dir)
                with open(local, "rb") as f:
                    lake.write_bytes(f"{target}/{rel}", f.read())
        return lake.url(f"{target}/index.html")
    except Exception as exc:  # docs are a convenience; never fail a validation because of them
        log.warning("could not publish GX data docs for %s: %s", suite, exc)
        return None


def _short(v: Any) -> str:
    s = json.dumps(v, default=str) if not isinstance(v, str) else v
    return s if len(s) <= 60 else s[:57] + "..."


def _jsonable(v: Any) -> Any:
    if isinstance(v, (dt.date, dt.datetime)):
        return v.isoformat()
    if hasattr(v, "item"):
        try:
            return v.item()
        except Exception:
            return str(v)
    return v


def _fmt_example(e: dict[str, Any]) -> str:
    return ", ".join(f"{k}={_short(v)}" for k, v in e.items())
