"""Validation suites for the ExioNAICS tables (run as blocking Dagster asset checks)."""

import polars as pl

from dagster_project.validation import Rule

# 2022 NAICS sectors (two-digit prefixes); 31-33, 44-45 and 48-49 are single sectors split over several prefixes.
# Exactly six digits: a 4- or 5-digit code is rejected with its row, never zero-padded into another code.
NAICS_6_REGEX = r"^(?:11|21|22|23|3[1-3]|42|4[4-5]|4[8-9]|5[1-6]|61|62|71|72|81|92)\d{4}$"
MIN_DESCRIPTION_CHARS = 20


# Sectors that span several 2-digit prefixes; a NAICS-2 column may spell them the official way ("31-33").
COMBINED_SECTORS = {
    "31": "31-33",
    "32": "31-33",
    "33": "31-33",
    "44": "44-45",
    "45": "44-45",
    "48": "48-49",
    "49": "48-49",
}


def with_code_prefixes(df: pl.DataFrame) -> pl.DataFrame:
    """The first 2 and 3 digits of the NAICS-6 code, compared with the file's own NAICS-2/3 columns (validation
    only; the hierarchy the models use is derived from the 6-digit code in dbt). Where the file writes a combined
    sector ("31-33"), the code's prefix is compared in that form."""
    first_2 = pl.col("naics_code").str.slice(0, 2)
    combined = first_2.replace_strict(COMBINED_SECTORS, default=first_2)
    return df.with_columns(
        pl.when(pl.col("naics_2_code").str.contains("-"))
        .then(combined)
        .otherwise(first_2)
        .alias("naics_code_first_2"),
        pl.col("naics_code").str.slice(0, 3).alias("naics_code_first_3"),
    )


def company_rules(df: pl.DataFrame) -> list[Rule]:
    rules = [
        Rule("ExpectTableRowCountToBeBetween", {"min_value": 1}),
        Rule("ExpectColumnValuesToNotBeNull", {"column": "company_name"}),
        Rule("ExpectColumnValuesToBeUnique", {"column": "company_name"}),
        Rule("ExpectColumnValuesToNotBeNull", {"column": "company_description"}),
        Rule(
            "ExpectColumnValueLengthsToBeBetween",
            {"column": "company_description", "min_value": MIN_DESCRIPTION_CHARS},
        ),
        Rule("ExpectColumnValuesToNotBeNull", {"column": "naics_code"}),
        Rule("ExpectColumnValuesToMatchRegex", {"column": "naics_code", "regex": NAICS_6_REGEX}),
    ]
    # Rules on optional columns only where the file had them (an all-null column was absent from the file).
    for digits in (2, 3):
        col = f"naics_{digits}_code"
        if df[col].is_not_null().any():
            rules.append(
                Rule(
                    "ExpectColumnPairValuesToBeEqual",
                    {
                        "column_A": col,
                        "column_B": f"naics_code_first_{digits}",
                        "ignore_row_if": "either_value_is_missing",
                    },
                )
            )
    for col in ("value_added_meur", "ghg_emissions_kg_co2e", "employment_thousands"):
        if df[col].is_not_null().any():
            rules.append(Rule("ExpectColumnValuesToBeBetween", {"column": col, "min_value": 0}))
    if df["year"].is_not_null().any():
        rules.append(
            Rule("ExpectColumnValuesToBeBetween", {"column": "year", "min_value": 1990, "max_value": 2030})
        )
    return rules


def factor_rules() -> list[Rule]:
    return [
        Rule("ExpectColumnValuesToNotBeNull", {"column": "region"}),
        Rule("ExpectColumnValuesToNotBeNull", {"column": "sector"}),
        Rule("ExpectColumnValuesToNotBeNull", {"column": "year"}),
        Rule(
            "ExpectCompoundColumnsToBeUnique", {"column_list": ["factor_table", "region", "sector", "year"]}
        ),
        Rule("ExpectColumnValuesToBeBetween", {"column": "value_added_meur", "min_value": 0}),
        Rule("ExpectColumnValuesToBeBetween", {"column": "ghg_emissions_kg_co2e", "min_value": 0}),
    ]


def mapping_rules() -> list[Rule]:
    return [
        Rule("ExpectColumnValuesToNotBeNull", {"column": "exiobase_sector"}),
        Rule("ExpectColumnValuesToMatchRegex", {"column": "naics_code", "regex": r"^\d{2,6}$"}),
        Rule("ExpectCompoundColumnsToBeUnique", {"column_list": ["exiobase_sector", "naics_code"]}),
    ]
