"""Validation rules for the GeoPlant tables: GX suites for the PA occurrence table and plain-Python rules for
what GX cannot express (swapped coordinates, grouped surveys, patch coverage, streamed PO rows, env values).

Every failure names the file and the line (or the survey) so a user can open the source record.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from dagster_project.validation import MAX_EXAMPLES, Rule, RuleResult

from .source import LAT_RANGE, LON_RANGE, NUM_SPECIES

EXTENT = f"lon {LON_RANGE[0]}..{LON_RANGE[1]}, lat {LAT_RANGE[0]}..{LAT_RANGE[1]}"


def pa_rules(split: str) -> list[Rule]:
    """GX suite of the long PA table (one row per surveyId, speciesId) of one split."""
    rules = [
        Rule("ExpectTableRowCountToBeBetween", {"min_value": 1}),
        Rule("ExpectColumnValuesToNotBeNull", {"column": "surveyId"}),
        Rule("ExpectColumnValuesToNotBeNull", {"column": "lat"}),
        Rule("ExpectColumnValuesToNotBeNull", {"column": "lon"}),
        Rule(
            "ExpectColumnValuesToBeBetween",
            {"column": "lat", "min_value": LAT_RANGE[0], "max_value": LAT_RANGE[1]},
        ),
        Rule(
            "ExpectColumnValuesToBeBetween",
            {"column": "lon", "min_value": LON_RANGE[0], "max_value": LON_RANGE[1]},
        ),
    ]
    if split == "train":
        rules += [
            Rule("ExpectColumnValuesToNotBeNull", {"column": "speciesId"}),
            Rule(
                "ExpectColumnValuesToBeBetween",
                {"column": "speciesId", "min_value": 0, "max_value": NUM_SPECIES - 1},
            ),
            Rule("ExpectCompoundColumnsToBeUnique", {"column_list": ["surveyId", "speciesId"]}),
        ]
    else:
        rules.append(Rule("ExpectColumnValuesToBeUnique", {"column": "surveyId"}))
    return rules


def _examples(bad: pl.DataFrame, value_cols: list[str]) -> list[dict]:
    cols = [c for c in ("source_file", "source_row", *value_cols) if c in bad.columns]
    return bad.head(MAX_EXAMPLES).select(cols).to_dicts()


def swapped_coordinates(df: pl.DataFrame) -> RuleResult:
    """Rows whose lat/lon only fit the extent when exchanged: the classic swapped-columns export error."""
    in_lat = pl.col("lat").is_between(*LAT_RANGE)
    in_lon = pl.col("lon").is_between(*LON_RANGE)
    swapped = ~(in_lat & in_lon) & pl.col("lon").is_between(*LAT_RANGE) & pl.col("lat").is_between(*LON_RANGE)
    bad = df.filter(swapped)
    return RuleResult(
        rule="lat/lon not swapped (lat and lon both inside the extent, " + EXTENT + ")",
        passed=bad.height == 0,
        unexpected_count=bad.height,
        element_count=df.height,
        examples=_examples(bad, ["surveyId", "lat", "lon"]),
    )


def unique_surveys(grouped: pl.DataFrame) -> RuleResult:
    """After grouping, surveyId is unique and each survey has a single location (one row per survey)."""
    dup = grouped.filter(pl.col("surveyId").is_duplicated())
    return RuleResult(
        rule="surveyId unique after grouping",
        passed=dup.height == 0,
        unexpected_count=dup.height,
        element_count=grouped.height,
        examples=_examples(dup, ["surveyId"]),
    )


def consistent_survey_location(long: pl.DataFrame) -> RuleResult:
    """All rows of one survey share lat/lon (else grouping would silently pick one)."""
    bad = (
        long.group_by("surveyId")
        .agg(
            pl.col("lat").n_unique().alias("n_lat"), pl.col("lon").n_unique().alias("n_lon"), pl.all().first()
        )
        .filter((pl.col("n_lat") > 1) | (pl.col("n_lon") > 1))
        .sort("surveyId")
    )
    return RuleResult(
        rule="one location per surveyId",
        passed=bad.height == 0,
        unexpected_count=bad.height,
        element_count=long["surveyId"].n_unique(),
        examples=_examples(bad, ["surveyId"]),
    )


def every_survey_has_patch(surveys: pl.DataFrame, missing: list[dict]) -> RuleResult:
    """Every PA survey has its RGB and NIR patch; `missing` lists {split, surveyId, file} of those without."""
    return RuleResult(
        rule="every PA survey has an RGB and a NIR Sentinel-2 patch",
        passed=not missing,
        unexpected_count=len(missing),
        element_count=surveys.height,
        examples=missing[:MAX_EXAMPLES],
    )


def env_finite(env: pl.DataFrame, id_col: str = "surveyId") -> RuleResult:
    """Every predictor is finite or missing: an infinity would corrupt the medians and scalers fitted on it."""
    predictors = [c for c, t in env.schema.items() if c != id_col and t.is_float()]
    bad = (
        env.filter(pl.any_horizontal([pl.col(c).is_infinite() for c in predictors]))
        if predictors
        else env.clear()
    )
    examples = []
    for row in bad.head(MAX_EXAMPLES).iter_rows(named=True):
        cols = [c for c in predictors if row[c] is not None and abs(row[c]) == float("inf")]
        examples.append({"surveyId": row[id_col], "columns": ", ".join(cols[:5])})
    return RuleResult(
        rule="every environmental value is finite or missing",
        passed=bad.height == 0,
        unexpected_count=bad.height,
        element_count=env.height,
        examples=examples,
    )


@dataclass
class StreamedRule:
    """A rule over a table that is streamed, never held whole: its count is one aggregate expression that rides
    in the same lazy pass as the write (`count_expr`); examples are fetched by a second, filtered pass only when
    the rule fails (`record`)."""

    rule: str
    predicate: pl.Expr  # True where a row BREAKS the rule
    value_cols: list[str]
    element_count: int = 0
    unexpected_count: int = 0
    examples: list[dict] = field(default_factory=list)

    def breaks(self) -> pl.Expr:
        return self.predicate.fill_null(True)

    def count_expr(self, name: str) -> pl.Expr:
        return self.breaks().sum().alias(name)

    def record(self, lf: pl.LazyFrame, element_count: int, unexpected_count: int) -> None:
        self.element_count, self.unexpected_count = element_count, unexpected_count
        if unexpected_count:
            bad = lf.filter(self.breaks()).head(MAX_EXAMPLES).collect()
            self.examples = _examples(bad, self.value_cols)

    def result(self) -> RuleResult:
        return RuleResult(
            rule=self.rule,
            passed=self.unexpected_count == 0,
            unexpected_count=self.unexpected_count,
            element_count=self.element_count,
            examples=self.examples,
        )


def streamed_counts(lf: pl.LazyFrame, rules: list[StreamedRule]) -> pl.LazyFrame:
    """One-row lazy aggregate: `rows` and `rule_<i>` (rows breaking rule i), to collect with the write."""
    return lf.select(pl.len().alias("rows"), *[r.count_expr(f"rule_{i}") for i, r in enumerate(rules)])


def record_streamed(lf: pl.LazyFrame, rules: list[StreamedRule], counts: pl.DataFrame) -> list[RuleResult]:
    """Store the collected counts in each rule (examples from a second pass only for failing rules)."""
    total = int(counts["rows"][0])
    for i, r in enumerate(rules):
        r.record(lf, total, int(counts[f"rule_{i}"][0]))
    return [r.result() for r in rules]


def po_stream_rules() -> list[StreamedRule]:
    """Rules checked on every presence-only row in the same streaming pass that writes the parquet."""
    return [
        StreamedRule(
            f"lat/lon inside the extent ({EXTENT})",
            ~(pl.col("lat").is_between(*LAT_RANGE) & pl.col("lon").is_between(*LON_RANGE)),
            ["lat", "lon"],
        ),
        StreamedRule(
            f"speciesId in 0..{NUM_SPECIES - 1}",
            ~pl.col("speciesId").is_between(0, NUM_SPECIES - 1),
            ["speciesId"],
        ),
        StreamedRule("surveyId not null", pl.col("surveyId").is_null(), ["surveyId"]),
        StreamedRule("year not null (the partition key)", pl.col("year").is_null(), ["year"]),
    ]
