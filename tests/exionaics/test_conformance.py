"""Conformance (issue 12): fixtures in the published ExioNAICS layouts, written here independently of the sample
generator and of the reader (other names, values, sizes; optional columns present and absent), read by the
platform's reader and by a straightforward pandas reading of the kind third-party HF loaders use; both must agree.
"""

import io
import math

import pandas as pd
import pytest

from dagster_project.datasets.exionaics import source

# Full local-CSV layout: every optional column, an empty GHG cell, quoted commas/quotes/newline, non-ASCII text,
# a figure in scientific notation.
FULL_CSV = (
    "Company Name,Company Description,NAICS Code,NAICS_2 Code,NAICS_3 Code,NAICS_2 Title,Year,"
    "GHG emissions [kg CO2 eq.],Value Added [M.EUR],Employment [1000 p.]\n"
    'Bluewater Fisheries,"Trawlers, nets and a cold store; ""fresh daily"" catch",114111,11,114,'
    "Agriculture,2016,2.5e7,1203.5,14.2\n"
    "Kessler & Söhne,Präzisionsmaschinen für die Lebensmittelindustrie und Verpackung,333241,33,333,"
    "Manufacturing,2018,,88.25,0.9\n"
    'Orchard Lane Bakery,"Sourdough loaves\nand pastries for cafes",311811,31,311,Manufacturing,2021,'
    "4410000.0,12.0,0.31\n"
    "Tidewater Freight,Container trucking between ports and inland depots,484121,48,484,"
    "Transportation and Warehousing,2022,9.81e8,530.0,6.0\n"
    "Quillfeather Analytics,Statistical consulting and survey design for public agencies,541611,54,541,"
    "Professional Services,2020,1.0e6,75.75,1.1\n"
    "Ridgeback Cement,Portland cement clinker kilns and ready-mix supply,327310,32,327,Manufacturing,2019,"
    "3.3e9,410.0,2.2\n"
    "Saltmarsh Credit Union,Member-owned savings accounts and consumer loans,522130,52,522,"
    "Finance and Insurance,2017,2.0e5,61.0,0.7\n"
)
# HF-loader names only (`2022 NAICS Code`, `2022 NAICS Title`), no NAICS-2/3 and no figures.
HF_CSV = (
    "Company Name,Company Description,2022 NAICS Code,2022 NAICS Title\n"
    "Amberfield Solar,Utility-scale photovoltaic farms in desert counties,221114,Solar Electric Power Generation\n"
    "Copperline Wireless,Fiber backhaul and cell towers for rural carriers,517111,"
    "Wired Telecommunications Carriers\n"
    "Harbor Light Hospice,Palliative nursing care at home and in residence,621610,Home Health Care Services\n"
)


def _independent_read(data: bytes, fmt: str) -> pd.DataFrame:
    """As a third-party loader reads the file: pandas with its own type inference, codes as integer text,
    figures coerced to numbers, whichever code/title column variant exists."""
    df = pd.read_parquet(io.BytesIO(data)) if fmt == "parquet" else pd.read_csv(io.BytesIO(data))
    code_col = "2022 NAICS Code" if "2022 NAICS Code" in df.columns else "NAICS Code"
    out = pd.DataFrame(
        {
            "company_name": df["Company Name"].astype(str),
            "company_description": df["Company Description"].astype(str),
            "naics_code": df[code_col].map(lambda v: str(int(v))),
        }
    )
    for src, dst in (
        ("Year", "year"),
        ("GHG emissions [kg CO2 eq.]", "ghg_emissions_kg_co2e"),
        ("Value Added [M.EUR]", "value_added_meur"),
        ("Employment [1000 p.]", "employment_thousands"),
    ):
        out[dst] = pd.to_numeric(df[src], errors="coerce") if src in df.columns else float("nan")
    for src, dst in (("2022 NAICS Title", "naics_title"), ("NAICS_2 Title", "naics_2_title")):
        out[dst] = df[src].astype(str) if src in df.columns else None
    if "NAICS_2 Code" in df.columns:
        out["naics_2_code"] = df["NAICS_2 Code"].map(lambda v: str(int(v)))
    return out


def _same(a, b) -> bool:
    na = a is None or (isinstance(a, float) and math.isnan(a))
    nb = b is None or (isinstance(b, float) and math.isnan(b))
    if na or nb:
        return na and nb
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    return a == b


def _variants():
    full_parquet = io.BytesIO()
    # the HF parquet conversion of a numeric column: codes as doubles
    hf = pd.read_csv(io.StringIO(HF_CSV))
    hf["2022 NAICS Code"] = hf["2022 NAICS Code"].astype("float64")
    hf.to_parquet(full_parquet, index=False)
    return [
        ("ExioNAICS.csv", FULL_CSV.encode(), "csv", 7),
        ("hf/train.csv", HF_CSV.encode(), "csv", 3),
        ("hf/train.parquet", full_parquet.getvalue(), "parquet", 3),
    ]


@pytest.mark.parametrize(("name", "data", "fmt", "rows"), _variants(), ids=lambda v: str(v)[:20])
def test_reader_agrees_with_independent_reading(name, data, fmt, rows):
    ours = source.read_companies(data, name)
    theirs = _independent_read(data, fmt)
    assert ours.height == len(theirs) == rows
    assert ours["source_row"].to_list() == list(range(1, rows + 1))
    assert set(ours["source_file"].to_list()) == {name}
    for col in theirs.columns:
        mine, other = ours[col].to_list(), theirs[col].tolist()
        bad = [(i + 1, m, o) for i, (m, o) in enumerate(zip(mine, other, strict=True)) if not _same(m, o)]
        assert not bad, f"{name}: column {col} disagrees at (row, ours, independent) {bad}"
    # optional columns absent from the file are null, never invented
    if fmt == "parquet" or name.startswith("hf/"):
        assert ours["naics_2_code"].null_count() == ours["value_added_meur"].null_count() == rows
    else:
        assert ours["naics_3_code"].to_list() == [c[:3] for c in ours["naics_code"].to_list()]
