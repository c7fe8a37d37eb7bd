"""ExioNAICS ingestion: raw files → typed company and sector-factor tables, each validated by a GX suite."""

import os

import dagster as dg
import polars as pl

from dagster_project import settings
from dagster_project.datasets.exionaics import checks, source
from dagster_project.metadata import table_metadata
from dagster_project.raw import ingest_raw, is_http, raw_relpath
from dagster_project.resources import SourceCredentials
from dagster_project.storage import Lake
from dagster_project.validation import validate_frame

DATASET = "exionaics"
GROUP = "exionaics"


class ExioNAICSSourceConfig(dg.Config):
    """Where to read ExioNAICS from. Empty `location` means the configured default: `CDP_EXIONAICS_SOURCE`, else
    the sample shipped in `assets/exionaics`. Use the Hugging Face URL
    `https://huggingface.co/datasets/Yvnminc/ExioNAICS/resolve/main` for the real data."""

    location: str = ""
    files: list[str] = []


def _files_for(location: str, files: list[str]) -> list[str] | None:
    if files:
        return files
    env = os.environ.get("CDP_EXIONAICS_FILES")
    if env:
        return [f.strip() for f in env.split(",") if f.strip()]
    return list(source.DEFAULT_FILES) if is_http(location) else None


@dg.asset(name="exionaics_raw_files", group_name=GROUP, kinds={"python", "csv"})
def exionaics_raw_files(
    context: dg.AssetExecutionContext,
    config: ExioNAICSSourceConfig,
    lake: Lake,
    credentials: SourceCredentials,
) -> pl.DataFrame:
    """ExioNAICS source files copied byte for byte into `raw/exionaics/`, with their manifest (size, sha256,
    source URL, retrieval time). Unchanged files are not copied again."""
    location = config.location or settings.source_location(DATASET)
    context.log.info(f"reading ExioNAICS from {location}")
    manifest = ingest_raw(
        lake,
        DATASET,
        location,
        _files_for(location, config.files),
        headers=credentials.hf_headers(),
        log_fn=context.log.info,
    )
    context.add_output_metadata(
        {**table_metadata(manifest), "source": location, "total_bytes": int(manifest["size"].sum())}
    )
    return manifest


def _raw_bytes(lake: Lake, relpath: str) -> bytes:
    return lake.read_bytes(raw_relpath(DATASET, relpath))


@dg.asset(
    name="exionaics_companies",
    group_name=GROUP,
    kinds={"polars", "parquet"},
    check_specs=[
        dg.AssetCheckSpec(
            "exionaics_companies_valid",
            asset="exionaics_companies",
            blocking=True,
            description="GX suite: required columns, unique non-empty names, descriptions of at least "
            f"{checks.MIN_DESCRIPTION_CHARS} characters, valid 2022 NAICS-6 codes, non-negative figures.",
        )
    ],
)
def exionaics_companies(context: dg.AssetExecutionContext, lake: Lake, exionaics_raw_files: pl.DataFrame):
    """One row per company: name, description, 6-digit NAICS code (zero-padded text), title, year, value added
    (M.EUR), employment (1000 persons) and reported GHG emissions (kg CO2e), in snake_case whatever column
    variant the source used. `source_file`/`source_row` point back at the raw record."""
    files = [r for r in exionaics_raw_files["relpath"].to_list() if not source.is_factor_file(r)]
    if not files:
        raise FileNotFoundError(
            "exionaics: no company file among the raw files " + str(exionaics_raw_files["relpath"].to_list())
        )
    df = pl.concat([source.read_companies(_raw_bytes(lake, f), f) for f in files], how="diagonal_relaxed")
    context.log.info(f"exionaics_companies: {df.height} companies from {files}")
    report = validate_frame(
        df, suite="exionaics_companies", rules=checks.company_rules(df.columns), lake=lake
    )
    meta = table_metadata(df)
    if "naics_code" in df.columns:
        meta["naics_6_classes"] = df["naics_code"].n_unique()
    yield dg.Output(df, metadata=meta)
    yield report.check_result("exionaics_companies_valid")


@dg.asset(
    name="exionaics_sector_factors",
    group_name=GROUP,
    kinds={"polars", "parquet"},
    check_specs=[
        dg.AssetCheckSpec(
            "exionaics_sector_factors_valid",
            asset="exionaics_sector_factors",
            blocking=True,
            description="GX suite: 3-digit NAICS concordance, unique per region and year, positive value added.",
        )
    ],
)
def exionaics_sector_factors(
    context: dg.AssetExecutionContext, lake: Lake, exionaics_raw_files: pl.DataFrame
):
    """ExioML-shaped sector factors (EXIOBASE 3.8.2 sectors with their NAICS-3 concordance): value added, employment,
    GHG emissions, energy use and the derived carbon intensity in kg CO2e per M.EUR of value added."""
    files = [r for r in exionaics_raw_files["relpath"].to_list() if source.is_factor_file(r)]
    if not files:
        raise FileNotFoundError("exionaics: no ExioML factor file among the raw files")
    df = pl.concat([source.read_factors(_raw_bytes(lake, f), f) for f in files], how="diagonal_relaxed")
    report = validate_frame(df, suite="exionaics_sector_factors", rules=checks.factor_rules(), lake=lake)
    yield dg.Output(df, metadata=table_metadata(df))
    yield report.check_result("exionaics_sector_factors_valid")
