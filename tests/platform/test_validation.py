"""The GX adapter reports each rule with file and row, and never hides a crashed expectation."""

import polars as pl

from dagster_project.validation import Rule, RuleResult, combine, python_report, validate_frame


def _frame():
    return pl.DataFrame(
        {
            "code": ["111110", "99x", "221112", None],
            "value": [1.0, 2.0, -5.0, 3.0],
            "source_file": ["c.csv"] * 4,
            "source_row": [1, 2, 3, 4],
        }
    )


def test_failures_name_file_row_and_rule(lake_local, tmp_path, monkeypatch):
    import tempfile

    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # where GX renders the Data Docs before publishing
    report = validate_frame(
        _frame(),
        suite="demo",
        rules=[
            Rule("ExpectColumnValuesToNotBeNull", {"column": "code"}),
            Rule("ExpectColumnValuesToMatchRegex", {"column": "code", "regex": r"^\d{6}$"}),
            Rule("ExpectColumnValuesToBeBetween", {"column": "value", "min_value": 0}),
            Rule("ExpectColumnToExist", {"column": "value"}),
        ],
        lake=lake_local,
    )
    assert not report.passed
    by_rule = {r.rule.split("(")[0]: r for r in report.results}
    assert by_rule["ExpectColumnToExist"].passed
    regex = by_rule["ExpectColumnValuesToMatchRegex"]
    assert not regex.passed and regex.unexpected_count == 1
    assert regex.examples[0]["source_file"] == "c.csv" and regex.examples[0]["source_row"] == 2
    assert by_rule["ExpectColumnValuesToBeBetween"].examples[0]["source_row"] == 3
    assert by_rule["ExpectColumnValuesToNotBeNull"].examples[0]["source_row"] == 4
    result = report.check_result("demo_valid", asset_key="demo")
    assert result.passed is False
    md = result.metadata
    assert md["rules_failed"].value == 3 and md["rules_evaluated"].value == 4
    assert "source_row=2" in md["failures"].value and "ExpectColumnValuesToMatchRegex" in md["failures"].value
    # the rendered GX Data Docs site was published on the lake
    assert lake_local.exists("validation/data_docs/demo/index.html")
    assert list(scratch.iterdir()) == []  # and the local rendering was removed (it leaked 4 MB per suite)


def test_crashed_expectation_is_a_failure_not_a_silent_pass():
    report = validate_frame(
        _frame(),
        suite="crash",
        rules=[Rule("ExpectColumnValuesToBeBetween", {"column": "nope", "min_value": 0})],
    )
    assert not report.passed
    assert report.results[0].error


def test_python_rules_combine_with_gx():
    gx = validate_frame(_frame(), suite="s", rules=[Rule("ExpectColumnToExist", {"column": "code"})])
    py = python_report("s", [RuleResult("cube finite", False, 2, examples=[{"file": "b.hdr", "board": 3}])])
    both = combine("s", gx, py)
    assert not both.passed and len(both.results) == 2
    assert "board=3" in both.check_result("s_valid", asset_key="s").metadata["failures"].value
