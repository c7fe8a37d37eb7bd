"""Readers for ExioNAICS (Hugging Face `Yvnminc/ExioNAICS`) and, optionally, ExioML factor files.

ExioNAICS is one file (`ExioNAICS.csv`, or a parquet conversion of it): one row per United States company with its
description, a 6-digit 2022 NAICS code and the sector figures (GHG emissions, value added, employment, year)
already joined to it. The column names differ between the copies seen in the wild (`NAICS Code` in a local CSV
export, `2022 NAICS Code` / `2022 NAICS Title` in the HF loaders); `COMPANY_COLUMNS` is the one documented mapping
from every known variant to the platform's snake_case names. Only name, description and code are required.

ExioML (`Yvnminc/ExioML`, `ExioML_factor_accounting_PxP.csv` / `_IxI.csv`) is a separate dataset keyed by
EXIOBASE region, sector and year, not by NAICS; it is used only when its files are present, together with an
EXIOBASE → NAICS mapping table that the user supplies (`exiobase_naics_mapping.csv`).
"""

import fnmatch
import io
from pathlib import PurePosixPath

import polars as pl

from dagster_project.errors import SourceFormatError

HF_REPO = "Yvnminc/ExioNAICS"
HF_BASE_URL = f"https://huggingface.co/datasets/{HF_REPO}/resolve/main"
# The HF card does not document its file names; `ExioNAICS.csv` is the name third-party loaders use. Override with
# CDP_EXIONAICS_FILES (comma-separated) for another layout, e.g. to add the optional ExioML files.
DEFAULT_FILES = ("ExioNAICS.csv",)
LICENSE = "apache-2.0"
DATA_PATTERNS = ("*.csv", "*.parquet")
US_REGION = "US"

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
# Optional columns: a file without them loads (they are added as typed nulls, and the asset metadata lists which
# were absent); without the figures the emission evaluation reports that it had nothing to score.
COMPANY_SCHEMA: dict[str, pl.DataType] = {
    "company_name": pl.String,
    "company_description": pl.String,
    "naics_code": pl.String,
    "naics_title": pl.String,
    "naics_2_code": pl.String,
    "naics_3_code": pl.String,
    "naics_2_title": pl.String,
    "year": pl.Int32,
    "ghg_emissions_kg_co2e": pl.Float64,
    "value_added_meur": pl.Float64,
    "employment_thousands": pl.Float64,
}
FIGURE_COLUMNS = ("year", "ghg_emissions_kg_co2e", "value_added_meur", "employment_thousands")

# ExioML's own column names (README and loaders: lower-case `region`/`sector`, capitalised `Year`); the
# capitalised variants of the README's field list are accepted too.
FACTOR_COLUMNS: dict[str, str] = {
    "region": "region",
    "Region": "region",
    "sector": "sector",
    "Sector": "sector",
    "Value Added [M.EUR]": "value_added_meur",
    "Employment [1000 p.]": "employment_thousands",
    "GHG emissions [kg CO2 eq.]": "ghg_emissions_kg_co2e",
    "Energy Carrier Net Total [TJ]": "energy_carrier_net_total_tj",
    "Year": "year",
    "year": "year",
}
REQUIRED_FACTOR_COLUMNS = ("region", "sector", "value_added_meur", "ghg_emissions_kg_co2e", "year")
FACTOR_SCHEMA: dict[str, pl.DataType] = {
    "factor_table": pl.String,
    "region": pl.String,
    "sector": pl.String,
    "year": pl.Int32,
    "value_added_meur": pl.Float64,
    "employment_thousands": pl.Float64,
    "ghg_emissions_kg_co2e": pl.Float64,
    "energy_carrier_net_total_tj": pl.Float64,
}

MAPPING_COLUMNS: dict[str, str] = {
    "exiobase_sector": "exiobase_sector",
    "sector": "exiobase_sector",
    "EXIOBASE Sector": "exiobase_sector",
    "naics_code": "naics_code",
    "NAICS Code": "naics_code",
    "2022 NAICS Code": "naics_code",
}
REQUIRED_MAPPING_COLUMNS = ("exiobase_sector", "naics_code")
MAPPING_SCHEMA: dict[str, pl.DataType] = {"exiobase_sector": pl.String, "naics_code": pl.String}

_FLOATS = ("ghg_emissions_kg_co2e", "value_added_meur", "employment_thousands", "energy_carrier_net_total_tj")


def file_role(relpath: str) -> str | None:
    """'factors' (ExioML factor accounting table), 'mapping' (EXIOBASE → NAICS table), 'companies' (any other
    CSV/parquet) or None (not a data file: READMEs, licences)."""
    name = PurePosixPath(relpath).name.lower()
    if not any(fnmatch.fnmatch(name, p) for p in DATA_PATTERNS):
        return None
    if name.startswith("exioml_factor"):
        return "factors"
    if "mapping" in name or "concordance" in name:
        return "mapping"
    return "companies"


def factor_table(relpath: str) -> str:
    """`PxP` (product by product) or `IxI` (industry by industry), from ExioML's file name."""
    return "IxI" if "ixi" in PurePosixPath(relpath).name.lower() else "PxP"


def select_source_files(relpaths: list[str]) -> list[str]:
    """The data files of a listed source folder. Files directly in the folder win; a folder without any (the HF
    parquet conversion puts its shards in `data/` or `default/train/`) takes the data files below it. Sub-folders
    of a folder that has its own data files (the sample's `parquet/` variant) are other sources, not this one."""
    data = [r for r in relpaths if file_role(r) is not None]
    top = [r for r in data if "/" not in r]
    return sorted(top or data)


def _read_any(data: bytes, file: str) -> pl.DataFrame:
    """CSV or parquet, every column as text (types are applied after the column mapping)."""
    if data[:4] == b"PAR1":
        df = pl.read_parquet(io.BytesIO(data))
        # A float-typed code column (541511.0) keeps its digits: the text form is normalised below.
        return df.with_columns(pl.all().cast(pl.String))
    try:
        return pl.read_csv(io.BytesIO(data), infer_schema=False, encoding="utf8-lossy")
    except pl.exceptions.PolarsError as exc:
        raise SourceFormatError(file, "readable CSV or parquet", str(exc)) from exc


def _rename(
    df: pl.DataFrame, mapping: dict[str, str], required: tuple[str, ...], file: str
) -> tuple[pl.DataFrame, dict[str, str]]:
    renames: dict[str, str] = {}
    for c in df.columns:
        dst = mapping.get(c.strip())
        if dst is not None and dst not in renames.values():
            renames[c] = dst
    missing = [c for c in required if c not in renames.values()]
    if missing:
        raise SourceFormatError(
            file,
            "known schema",
            f"missing {missing}; columns found: {df.columns}; expected one of each: "
            + ", ".join(f"{dst} <- {[s for s, d in mapping.items() if d == dst]}" for dst in required),
        )
    return df.select(list(renames)).rename(renames), renames


def normalise_code(col: str) -> pl.Expr:
    """'541511', ' 541511 ', '541511.0' and 541511 all become the text '541511'. No zero-padding: a 5-digit
    `54151` stays `54151` and is rejected by the NAICS-6 rule, naming its row (`5415` is not `005415`)."""
    text = pl.col(col).cast(pl.String).str.strip_chars().str.replace(r"^(\d+)\.0+$", "$1")
    return pl.when(text == "").then(None).otherwise(text).alias(col)


def _with_lineage(df: pl.DataFrame, file: str) -> pl.DataFrame:
    # source_row is the 1-based record number in the file (the CSV header is not counted).
    return df.with_columns(
        pl.lit(file).alias("source_file"), pl.int_range(1, df.height + 1, dtype=pl.Int64).alias("source_row")
    )


def _conform(df: pl.DataFrame, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """Every schema column present (absent optional ones as typed nulls), in schema order, then the rest."""
    exprs = []
    for col, dtype in schema.items():
        if col not in df.columns:
            exprs.append(pl.lit(None, dtype=dtype).alias(col))
        elif dtype == pl.String:
            exprs.append(pl.col(col).cast(pl.String))
        else:
            # Text that is not a number becomes null; the blocking GX suite sees the column and its nulls.
            exprs.append(pl.col(col).str.strip_chars().cast(dtype, strict=False))
    rest = [c for c in df.columns if c not in schema]
    return df.select(*exprs, *rest)


def read_companies(data: bytes, file: str) -> pl.DataFrame:
    """Company descriptions with NAICS codes, in the platform's column names and types, with every
    `COMPANY_SCHEMA` column (absent optional ones as nulls; `company_columns_found` says which were present)."""
    df, _ = _rename(_read_any(data, file), COMPANY_COLUMNS, REQUIRED_COMPANY_COLUMNS, file)
    df = df.with_columns(
        pl.col("company_name").str.strip_chars(),
        pl.col("company_description").str.strip_chars(),
        *(normalise_code(c) for c in ("naics_code", "naics_2_code", "naics_3_code") if c in df.columns),
    )
    return _with_lineage(_conform(df, COMPANY_SCHEMA), file)


def company_columns_found(data: bytes, file: str) -> dict[str, str]:
    """Which source column fed which platform column (for the asset metadata)."""
    _, renames = _rename(_read_any(data, file), COMPANY_COLUMNS, REQUIRED_COMPANY_COLUMNS, file)
    return {dst: src for src, dst in renames.items()}


def read_factors(data: bytes, file: str) -> pl.DataFrame:
    """ExioML factor accounting table (one row per region, EXIOBASE sector and year), typed."""
    df, _ = _rename(_read_any(data, file), FACTOR_COLUMNS, REQUIRED_FACTOR_COLUMNS, file)
    df = df.with_columns(
        pl.col("region").str.strip_chars(),
        pl.col("sector").str.strip_chars(),
        pl.lit(factor_table(file)).alias("factor_table"),
    )
    return _with_lineage(_conform(df, FACTOR_SCHEMA), file)


def read_mapping(data: bytes, file: str) -> pl.DataFrame:
    """EXIOBASE sector → NAICS code table; `naics_code` may be any prefix of 2 to 6 digits (a company takes the
    longest prefix that matches its code)."""
    df, _ = _rename(_read_any(data, file), MAPPING_COLUMNS, REQUIRED_MAPPING_COLUMNS, file)
    df = df.with_columns(pl.col("exiobase_sector").str.strip_chars(), normalise_code("naics_code"))
    return _with_lineage(_conform(df, MAPPING_SCHEMA), file)


def require_us_rows(factors: pl.DataFrame) -> None:
    """ExioNAICS companies are all United States: factor files without a US region cannot give their intensity."""
    if factors.height and not (factors["region"] == US_REGION).any():
        regions = sorted(factors["region"].drop_nulls().unique().to_list())
        files = sorted(factors["source_file"].unique().to_list())
        raise SourceFormatError(
            ", ".join(files),
            f"factor file has rows for region '{US_REGION}'",
            f"no row with region = '{US_REGION}' among {factors.height} rows; regions found: {regions}. "
            "ExioNAICS companies are United States companies; supply the ExioML file with its US rows.",
        )
