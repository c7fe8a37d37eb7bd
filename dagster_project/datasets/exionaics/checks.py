"""Validation suites for the ExioNAICS tables (run as blocking Dagster asset checks)."""

from dagster_project.datasets.exionaics.source import EXPECTED_COMPANY_COLUMNS
from dagster_project.validation import Rule

# 2022 NAICS sectors (two-digit prefixes); 31-33, 44-45 and 48-49 are single sectors split over several prefixes.
NAICS_6_REGEX = r"^(?:11|21|22|23|3[1-3]|42|4[4-5]|4[8-9]|5[1-6]|61|62|71|72|81|92)\d{4}$"
MIN_DESCRIPTION_CHARS = 20


def company_rules(columns: list[str]) -> list[Rule]:
    rules = [Rule("ExpectColumnToExist", {"column": c}) for c in EXPECTED_COMPANY_COLUMNS]
    rules += [
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
    # Value rules only for optional columns that exist; their absence is reported by ExpectColumnToExist above.
    for col in ("value_added_meur", "ghg_emissions_kg_co2e", "employment_thousands"):
        if col in columns:
            rules.append(Rule("ExpectColumnValuesToBeBetween", {"column": col, "min_value": 0}))
    if "year" in columns:
        rules.append(
            Rule("ExpectColumnValuesToBeBetween", {"column": "year", "min_value": 1990, "max_value": 2030})
        )
    return rules


def factor_rules() -> list[Rule]:
    return [
        Rule("ExpectTableRowCountToBeBetween", {"min_value": 1}),
        Rule("ExpectColumnValuesToNotBeNull", {"column": "naics_3_code"}),
        Rule("ExpectColumnValuesToMatchRegex", {"column": "naics_3_code", "regex": r"^\d{3}$"}),
        Rule("ExpectCompoundColumnsToBeUnique", {"column_list": ["region", "naics_3_code", "year"]}),
        Rule(
            "ExpectColumnValuesToBeBetween",
            {"column": "value_added_meur", "min_value": 0, "strict_min": True},
        ),
        Rule("ExpectColumnValuesToBeBetween", {"column": "ghg_emissions_kg_co2e", "min_value": 0}),
        Rule("ExpectColumnValuesToNotBeNull", {"column": "carbon_intensity_kg_per_meur"}),
    ]
