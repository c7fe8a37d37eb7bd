"""ExioNAICS ingestion: raw files → typed company table (and, when supplied, ExioML factors with their EXIOBASE →
NAICS mapping), each validated by a blocking GX suite."""

import dagster as dg
import polars as pl

from dagster_project import settings
from dagster_project.datasets.exionaics import checks, source
from dagster_project.errors import SourceFormatError
from dagster_project.ingest import RawSource, SourceConfig, Table, raw_files_asset, table_asset
from dagster_project.raw import is_http, list_source_files, raw_relpath
from dagster_project.storage import Lake
from dagster_project.validation import validate_frame

DATASET = "exionaics"


class ExioNAICSSourceConfig(SourceConfig):
    """Where to read ExioNAICS from. Empty `location` means the configured default: `CDP_EXIONAICS_SOURCE`, else
    the sample shipped in `assets/exionaics` (`assets/exionaics/parquet` holds the parquet variant). Use the
    Hugging Face URL `https://huggingface.co/datasets/Yvnminc/ExioNAICS/resolve/main` for the real data. A folder
    may also hold the optional ExioML factor files (`ExioML_factor_accounting_PxP.csv` / `_IxI.csv`) and an
    EXIOBASE → NAICS mapping (`exiobase_naics_mapping.csv`)."""

    files: list[str] = []


def _files_for(location: str, files: list[str]) -> list[str]:
    if files:
        return files
    env = settings.source_files("exionaics")
    if env:
        return env
    if is_http(location):
        return list(source.DEFAULT_FILES)
    return source.select_source_files(list_source_files(location))


def _ingest(src: RawSource) -> pl.DataFrame:
    relpaths = _files_for(src.location, src.config.files)
    manifest = src.copy(relpaths, headers=src.credentials.hf_headers())
    return manifest.filter(pl.col("relpath").is_in(relpaths))


exionaics_raw_files = raw_files_asset(
    DATASET,
    kinds={"python", "csv"},
    config=ExioNAICSSourceConfig,
    ingest=_ingest,
    metadata=lambda m: {"roles": dg.MetadataValue.json({r: source.file_role(r) for r in m["relpath"]})},
    description="ExioNAICS source files copied byte for byte into `raw/exionaics/`, with their manifest (size, "
    "sha256, source URL, retrieval time). Unchanged files are not copied again. The output lists this run's "
    "source files only: raw copies kept from an earlier source (the manifest keeps them) are not read downstream.",
)


def _raw_bytes(lake: Lake, relpath: str) -> bytes:
    return lake.read_bytes(raw_relpath(DATASET, relpath))


def _files_of(raw_files: pl.DataFrame, role: str) -> list[str]:
    return [r for r in raw_files["relpath"].to_list() if source.file_role(r) == role]


def _read_all(lake: Lake, files: list[str], reader, schema: dict) -> pl.DataFrame:
    frames = [reader(_raw_bytes(lake, f), f) for f in files]
    if not frames:
        empty = {**schema, "source_file": pl.String, "source_row": pl.Int64}
        return pl.DataFrame(schema=empty)
    return pl.concat(frames, how="diagonal_relaxed")


@table_asset(
    "exionaics_companies",
    dataset=DATASET,
    check_description="GX suite: unique non-empty names, descriptions of at least "
    f"{checks.MIN_DESCRIPTION_CHARS} characters, 6-digit 2022 NAICS codes, NAICS-2/3 columns (where "
    "present) equal to the code's prefix, non-negative figures.",
)
def exionaics_companies(context: dg.AssetExecutionContext, lake: Lake, exionaics_raw_files: pl.DataFrame):
    """One row per company: name, description, 6-digit NAICS code (text, as in the file: never zero-padded),
    optional titles and NAICS-2/3 columns, year, value added (M.EUR), employment (1000 persons) and GHG emissions
    (kg CO2e), in snake_case whatever column variant the source used; optional columns the file lacks are null
    (listed in `columns_absent`). `source_file`/`source_row` point back at the raw record."""
    files = _files_of(exionaics_raw_files, "companies")
    if not files:
        raise FileNotFoundError(
            "exionaics: no company file among the raw files " + str(exionaics_raw_files["relpath"].to_list())
        )
    df = _read_all(lake, files, source.read_companies, source.COMPANY_SCHEMA)
    found: dict[str, str] = {}
    for f in files:
        found.update(source.company_columns_found(_raw_bytes(lake, f), f))
    context.log.info(f"exionaics_companies: {df.height} companies from {files}")
    report = validate_frame(
        checks.with_code_prefixes(df),
        suite="exionaics_companies",
        rules=checks.company_rules(df),
        lake=lake,
    )
    meta = {
        "naics_6_classes": df["naics_code"].n_unique(),
        "files": dg.MetadataValue.json(files),
        "columns_found": dg.MetadataValue.json(found),
        "columns_absent": dg.MetadataValue.json([c for c in source.COMPANY_SCHEMA if c not in found]),
        "formats": dg.MetadataValue.json(sorted({f.rsplit(".", 1)[-1].lower() for f in files})),
    }
    return Table(df, report, meta)


@table_asset(
    "exionaics_sector_factors",
    dataset=DATASET,
    check_description="GX suite: one row per factor table, region, sector and year; non-negative value added "
    "and emissions. Passes with nothing to check when no ExioML file is supplied (optional source).",
)
def exionaics_sector_factors(
    context: dg.AssetExecutionContext, lake: Lake, exionaics_raw_files: pl.DataFrame
):
    """Optional: ExioML factor accounting rows (region, EXIOBASE sector, year, value added, employment, GHG
    emissions, energy) as supplied, every region and year kept; dbt filters the US rows and the year of each
    company. Empty when no `ExioML_factor_accounting_*.csv` is among the source files (the default path derives
    the intensities from ExioNAICS alone). With both PxP and IxI present, PxP is used (their sectors differ, and
    pooling them would count emissions twice)."""
    files = _files_of(exionaics_raw_files, "factors")
    tables = {f: source.factor_table(f) for f in files}
    used = [f for f in files if tables[f] == "PxP"] if "PxP" in tables.values() else files
    df = _read_all(lake, used, source.read_factors, source.FACTOR_SCHEMA)
    meta = {
        "factor_files_used": dg.MetadataValue.json(used),
        "factor_files_ignored": dg.MetadataValue.json([f for f in files if f not in used]),
    }
    if not used:
        meta["note"] = "no ExioML factor file supplied: optional source not used"
        return Table(df, metadata=meta, skipped="no ExioML factor file supplied")
    source.require_us_rows(df)
    meta["regions"] = df["region"].n_unique()
    meta["years"] = dg.MetadataValue.json(sorted(df["year"].drop_nulls().unique().to_list()))
    meta["us_rows"] = int((df["region"] == source.US_REGION).sum())
    context.log.info(f"exionaics_sector_factors: {df.height} rows from {used}, {meta['us_rows']} US rows")
    report = validate_frame(df, suite="exionaics_sector_factors", rules=checks.factor_rules(), lake=lake)
    return Table(df, report, meta)


@table_asset(
    "exionaics_sector_mapping",
    dataset=DATASET,
    check_description="GX suite: EXIOBASE sector named, NAICS code of 2 to 6 digits, no repeated pair.",
)
def exionaics_sector_mapping(
    context: dg.AssetExecutionContext, lake: Lake, exionaics_raw_files: pl.DataFrame
):
    """Optional: the EXIOBASE sector → NAICS mapping that turns ExioML factors into NAICS intensities, as the user
    supplied it (`exiobase_naics_mapping.csv`: `exiobase_sector`, `naics_code` = a NAICS prefix of 2 to 6 digits;
    a company takes its longest matching prefix). The platform ships no mapping for the real data. Required when
    ExioML factor files are supplied, empty otherwise."""
    files = _files_of(exionaics_raw_files, "mapping")
    factor_files = _files_of(exionaics_raw_files, "factors")
    if factor_files and not files:
        raise SourceFormatError(
            ", ".join(factor_files),
            "ExioML factors come with an EXIOBASE → NAICS mapping",
            "ExioML is keyed by EXIOBASE sector, not NAICS: add `exiobase_naics_mapping.csv` (columns "
            "`exiobase_sector`, `naics_code`) next to the factor file.",
        )
    df = _read_all(lake, files, source.read_mapping, source.MAPPING_SCHEMA)
    meta = {"mapping_files": dg.MetadataValue.json(files)}
    if not files:
        meta["note"] = "no mapping supplied (no ExioML factors either)"
        return Table(df, metadata=meta, skipped="no mapping file supplied")
    context.log.info(f"exionaics_sector_mapping: {df.height} pairs from {files}")
    report = validate_frame(df, suite="exionaics_sector_mapping", rules=checks.mapping_rules(), lake=lake)
    return Table(df, report, meta)
