"""Validation of the PCB-Vision tables (run as blocking Dagster asset checks, one per board partition).

Structural rules (header size = data file size, 224 bands, mask shape = cube shape, files present, JPEGs decode)
are enforced while reading: a board that breaks one cannot be turned into a pixel table, so the step fails with
a SourceFormatError naming file and rule, and the check lists these rules as passed for every board it reports.
Value rules (class ids in the masks, finite spectra) are measured on the raw arrays and reported with the file,
line and sample of the first offending pixels; GX rules cover the table's columns. Spectral continuity (the median
correlation of adjacent bands on evenly spaced pixels) blocks a cube whose header `interleave` does not describe its
bytes: it reads as a correctly shaped cube, but scrambled.
"""

from dagster_project.datasets.pcbvision.source import (
    CLASSES,
    CONTINUITY_MIN,
    HSI_SPLITS,
    NO_SPLIT,
    BoardPixels,
    BoardRgb,
    ValueViolations,
)
from dagster_project.validation import Rule, RuleResult

CLASS_IDS = sorted(CLASSES)
SPLITS = [*HSI_SPLITS, NO_SPLIT]
STRUCTURAL_RULES = (
    "header size matches data file",
    "cube has 224 bands",
    "mask shape = cube shape",
    "masks, PCB mask and cube present; PCB mask JPEG decodes",
)


def violations_rule(rule: str, v: ValueViolations, element_count: int | None = None) -> RuleResult:
    return RuleResult(
        rule=f"{rule} [{v.file}]",
        passed=v.count == 0,
        unexpected_count=v.count,
        element_count=element_count,
        examples=v.examples,
    )


def continuity_rule(bp: BoardPixels) -> RuleResult:
    c = bp.continuity
    figure = "not measurable" if c.median is None else round(c.median, 4)
    return RuleResult(
        rule=f"spectral continuity: median adjacent-band correlation >= {CONTINUITY_MIN} [{c.file}]",
        passed=c.passed,
        unexpected_count=0 if c.passed else 1,
        element_count=1,
        examples=[]
        if c.passed
        else [
            {
                "file": c.file,
                "median_adjacent_band_correlation": figure,
                "threshold": c.threshold,
                "pixels_sampled": c.pixels,
                "header_interleave": c.interleave,
            }
        ],
    )


def board_python_rules(bp: BoardPixels) -> list[RuleResult]:
    n = bp.rows
    results = [
        RuleResult(rule=f"{r} [board {bp.board}]", passed=True, element_count=n) for r in STRUCTURAL_RULES
    ]
    for v in bp.mask_values.values():
        results.append(violations_rule(f"mask values in {set(CLASS_IDS)}", v, n))
    results.append(violations_rule("spectra finite (every band of every pixel)", bp.nonfinite, n))
    results.append(continuity_rule(bp))
    return results


def pixel_rules(clip_min: float | None, clip_max: float | None) -> list[Rule]:
    """GX rules on the pixel table (the spectrum array column is summarised by mean_reflectance)."""
    rules = [
        Rule("ExpectTableRowCountToBeBetween", {"min_value": 1}),
        Rule("ExpectColumnValuesToBeInSet", {"column": "label", "value_set": CLASS_IDS}),
        Rule("ExpectColumnValuesToBeInSet", {"column": "label_monoseg", "value_set": CLASS_IDS}),
        Rule("ExpectColumnValuesToBeInSet", {"column": "hsi_split", "value_set": SPLITS}),
        Rule("ExpectColumnValuesToNotBeNull", {"column": "on_pcb"}),
        Rule("ExpectColumnValuesToBeUnique", {"column": "source_row"}),
        Rule("ExpectColumnValuesToBeBetween", {"column": "line", "min_value": 0}),
        Rule("ExpectColumnValuesToBeBetween", {"column": "sample", "min_value": 0}),
        Rule("ExpectColumnValuesToNotBeNull", {"column": "mean_reflectance"}),
    ]
    if clip_min is not None and clip_max is not None:
        rules.append(
            Rule(
                "ExpectColumnValuesToBeBetween",
                {"column": "mean_reflectance", "min_value": clip_min, "max_value": clip_max},
            )
        )
    return rules


def rgb_python_rules(rgb: BoardRgb) -> list[RuleResult]:
    """Plain-Python rules for the one-row RGB summary (a GX suite per one-row table would cost more than it says).
    A board without an RGB photograph (the RGB part is optional) has nothing to check."""
    row = rgb.row
    if row is None:
        return [
            RuleResult(
                rule="RGB photograph absent (optional): nothing to check", passed=True, element_count=0
            )
        ]
    board = row["board"]
    results = [
        RuleResult(
            rule=f"RGB JPEG and PNG masks decode, masks have the photograph's size [board {board}]",
            passed=True,
        )
    ]
    results += [violations_rule(f"mask values in {set(CLASS_IDS)}", v) for v in rgb.mask_values.values()]
    for col in ("rgb_split", "hsi_split"):
        ok = row[col] in SPLITS
        results.append(
            RuleResult(
                rule=f"{col} in {SPLITS}",
                passed=ok,
                unexpected_count=0 if ok else 1,
                examples=[] if ok else [{"file": row["source_file"], "board": board, "value": row[col]}],
            )
        )
    return results
