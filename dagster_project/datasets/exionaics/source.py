"""Readers for ExioNAICS (Hugging Face `Yvnminc/ExioNAICS`) and its ExioML sector factors.

The column names differ between the copies seen in the wild (the HF parquet conversion uses `2022 NAICS Code`,
a local CSV export uses `NAICS Code`, `NAICS_2 Code`, emissions and value added columns). `COMPANY_COLUMNS` is the
one documented mapping from every known variant to the platform's snake_case names.
"""

import io

import polars as pl

from dagster_project.errors import SourceFormatError

HF_REPO = "Yvnminc/ExioNAICS"
HF_BASE_URL = f"https://huggingface.co/datasets/{HF_REPO}/resolve/main"
# The HF card does not document its file names; these are the files this platform expects at the source (they
# are what the shipped sample contains). Override with CDP_EXIONAICS_FILES (comma-separated) for another layout.
DEFAULT_FILES = ("ExioNAICS.csv", "ExioML_factors.csv")
LICENSE = "apache-2.0"

COMPANY_COLUMNS: dict[str, str] = {
    "Company Name": "company_name",
    "Company Description": "company_description",
    "NAICS Code": "naics_code",
    "2022 NAICS Code": "naics_code",
    "NAICS Title": "naics_title",
    "2022 NAICS Title": "naics_title",
    "NAICS_2 Code": "naics_2_code",
    "NAICS_3 Code": "naics_3_code",
    "NAICS_2 Title": "naics_2_title",
    "Year": "year",
    "GHG emissions [kg CO2 eq.]": "ghg_emissions_kg_co2e",
    "Value Added [M.EUR]": "value_added_meur",
    "Employment [1000 p.]": "employment_thousands",
}
REQUIRED_COMPANY_COLUMNS = ("company_name", "company_description", "naics_code")
# Columns the downstream marts use; a file without them loads, and the validation suite reports what is missing.
EXPECTED_COMPANY_COLUMNS = (
    *REQUIRED_COMPANY_COLUMNS,
    "naics_title",
    "year",
    "ghg_emissions_kg_co2e",
    "value_added_meur",
    "employment_thousands",
)

FACTOR_COLUMNS: dict[str, str] = {
    "Region": "region",
    "Sector": "sector",
    "NAICS Code": "naics_3_code",
    "Value Added [M.EUR]": "value_added_meur",
    "Employment [1000 p.]": "employment_thousands",
    "GHG emissions [kg CO2 eq.]": "ghg_emissions_kg_co2e",
    "Energy Carrier Net Total [TJ]": "energy_carrier_net_total_tj",
    "Year": "year",
}
REQUIRED_FACTOR_COLUMNS = ("region", "sector", "naics_3_code", "value_added_meur", "ghg_emissions_kg_co2e")

_FLOATS = ("ghg_emissions_kg_co2e", "value_added_meur", "employment_thousands", "energy_carrier_net_total_tj")


def is_factor_file(relpath: str) -> bool:
    return "exioml" in relpath.lower() or "factor" in relpath.lower()


def _read_any(data: bytes, file: str) -> pl.DataFrame:
    """CSV or parquet, every column as text (types are applied after the column mapping)."""
    if data[:4] == b"PAR1":
        df = pl.read_parquet(io.BytesIO(data))
        return df.with_columns(pl.all().cast(pl.String))
    try:
        return pl.read_csv(io.BytesIO(data), infer_schema=False, encoding="utf8-lossy")
    except pl.exceptions.PolarsError as exc:
        raise SourceFormatError(file, "readable CSV or parquet", str(exc)) from exc


def _rename(df: pl.DataFrame, mapping: dict[str, str], required: tuple[str, ...], file: str) -> pl.DataFrame:
    renames = {c: mapping[c.strip()] for c in df.columns if c.strip() in mapping}
    out = df.rename(renames)
    missing = [c for c in required if c not in out.columns]
    if missing:
        raise SourceFormatError(
            file,
            "known schema",
            f"missing {missing}; columns found: {df.columns}; expected one of each: "
            + ", ".join(f"{dst} <- {[s for s, d in mapping.items() if d == dst]}" for dst in required),
        )
    keep = [c for c in dict.fromkeys(renames.values())]
    return out.select(keep)


def normalise_naics(col: str = "naics_code", width: int = 6) -> pl.Expr:
    """'541511', '541511.0' and 541511 all become the string '541511'; shorter codes are zero-padded."""
    text = pl.col(col).cast(pl.String).str.strip_chars().str.replace(r"\.0+$", "")
    return pl.when(text.str.contains(r"^\d+$")).then(text.str.zfill(width)).otherwise(text).alias(col)


def _with_lineage(df: pl.DataFrame, file: str) -> pl.DataFrame:
    # source_row is the 1-based record number in the file (the CSV header is not counted).
    return df.with_columns(
        pl.lit(file).alias("source_file"), pl.int_range(1, df.height + 1, dtype=pl.Int64).alias("source_row")
    )


def read_companies(data: bytes, file: str) -> pl.DataFrame:
    """Company descriptions with NAICS codes, in the platform's column names and types."""
    df = _rename(_read_any(data, file), COMPANY_COLUMNS, REQUIRED_COMPANY_COLUMNS, file)
    exprs = [
        pl.col("company_name").str.strip_chars(),
        pl.col("company_description").str.strip_chars(),
        normalise_naics("naics_code", 6),
    ]
    if "naics_2_code" in df.columns:
        exprs.append(normalise_naics("naics_2_code", 2))
    if "year" in df.columns:
        exprs.append(pl.col("year").cast(pl.Int32, strict=False))
    exprs += [pl.col(c).cast(pl.Float64, strict=False) for c in _FLOATS if c in df.columns]
    return _with_lineage(df.with_columns(exprs), file)


def read_factors(data: bytes, file: str) -> pl.DataFrame:
    """ExioML-shaped sector factors, with `carbon_intensity_kg_per_meur` = GHG / value added."""
    df = _rename(_read_any(data, file), FACTOR_COLUMNS, REQUIRED_FACTOR_COLUMNS, file)
    exprs = [normalise_naics("naics_3_code", 3)]
    exprs += [pl.col(c).cast(pl.Float64, strict=False) for c in _FLOATS if c in df.columns]
    if "year" in df.columns:
        exprs.append(pl.col("year").cast(pl.Int32, strict=False))
    df = df.with_columns(exprs).with_columns(
        (pl.col("ghg_emissions_kg_co2e") / pl.col("value_added_meur")).alias("carbon_intensity_kg_per_meur")
    )
    return _with_lineage(df, file)
