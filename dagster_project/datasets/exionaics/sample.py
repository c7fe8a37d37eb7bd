"""Deterministic synthetic ExioNAICS sample (company descriptions → NAICS-6 → sector figures), in the published
single-file layout, plus the parquet variant and the optional ExioML test fixture.

Why synthetic: the real ExioNAICS descriptions are scraped company texts whose redistribution in a code repository
we cannot vouch for, and this machine cannot download them. The sample keeps the real column names and code
system (2022 NAICS codes and titles), and gives each NAICS-6 code its own vocabulary (plus shared sector words and
cross-sector noise) so a text classifier learns something real, and NAICS-2 is easier than NAICS-6, as in the
paper. As in ExioNAICS, the figures on each company row are its sector's figures for the row's year (value added,
employment, GHG = value added × the sector's intensity, which falls a little every year), so a misclassified company
gets another sector's intensity.

Files: `ExioNAICS.csv` (the third-party local CSV layout: `NAICS Code`, `NAICS_2/3 Code`, `NAICS_2 Title`, figures,
no 6-digit title), `parquet/ExioNAICS.parquet` (the HF loaders' names: integer `2022 NAICS Code`, `2022 NAICS
Title`, no NAICS-2/3 columns; another seed and size). The ExioML-shaped factor file and EXIOBASE → NAICS mapping
are a test fixture only (`tests/exionaics/fixtures/exioml/`, `write_exioml_fixture`), illustrative numbers.

Regenerate with `python -m dagster_project samples exionaics` (and `python -m
dagster_project.datasets.exionaics.sample --fixture tests/exionaics/fixtures/exioml` for the fixture).
"""

import csv
import io
import random
from pathlib import Path

COMPANIES_FILE = "ExioNAICS.csv"

# NAICS-2 sector → {NAICS-6 code: (2022 title, code-specific vocabulary)}, and sector-wide vocabulary.
SECTORS: dict[str, dict] = {
    "11": {
        "words": "farm agricultural harvest acres rural crop growers land",
        "codes": {
            "111110": ("Soybean Farming", "soybean soybeans oilseed legume soy meal bean"),
            "111150": ("Corn Farming", "corn maize grain silage ethanol feedstock kernel"),
            "112111": ("Beef Cattle Ranching and Farming", "cattle beef ranch herd calves pasture grazing"),
            "113310": ("Logging", "logging timber sawlogs felling forest pulpwood skidder"),
        },
    },
    "21": {
        "words": "extraction reserves drilling mine geology deposits field",
        "codes": {
            "211120": ("Crude Petroleum Extraction", "crude oil barrels wells upstream shale petroleum"),
            "211130": ("Natural Gas Extraction", "natural gas wells condensate methane fracturing basin"),
            "212114": ("Surface Coal Mining", "coal surface strip mining overburden thermal lignite"),
            "212230": (
                "Copper, Nickel, Lead, and Zinc Mining",
                "copper nickel zinc ore concentrate smelter lead",
            ),
        },
    },
    "22": {
        "words": "utility grid electricity customers megawatts ratepayers transmission",
        "codes": {
            "221112": (
                "Fossil Fuel Electric Power Generation",
                "coal-fired gas-fired turbines plant baseload boilers",
            ),
            "221114": (
                "Solar Electric Power Generation",
                "solar photovoltaic panels arrays sunlight pv farms",
            ),
            "221115": ("Wind Electric Power Generation", "wind turbines offshore onshore blades windfarm"),
            "221310": (
                "Water Supply and Irrigation Systems",
                "water supply irrigation reservoirs treatment pipes",
            ),
        },
    },
    "23": {
        "words": "construction contractor projects builders sites crews permits",
        "codes": {
            "236115": (
                "New Single-Family Housing Construction",
                "homes homebuilder houses residential subdivisions",
            ),
            "236220": (
                "Commercial and Institutional Building Construction",
                "commercial offices institutional schools hospitals towers",
            ),
            "237310": (
                "Highway, Street, and Bridge Construction",
                "highway bridges roads paving asphalt overpass",
            ),
            "238220": (
                "Plumbing, Heating, and Air-Conditioning Contractors",
                "plumbing hvac heating air-conditioning boilers ductwork",
            ),
        },
    },
    "31": {
        "words": "manufacturer factory production plants industrial products",
        "codes": {
            "311811": ("Retail Bakeries", "bakery bread pastries cakes baked croissants"),
            "325412": (
                "Pharmaceutical Preparation Manufacturing",
                "pharmaceutical drugs tablets generics clinical",
            ),
            "327310": ("Cement Manufacturing", "cement clinker kilns limestone portland concrete"),
            "331110": (
                "Iron and Steel Mills and Ferroalloy Manufacturing",
                "steel iron mills furnaces ferroalloy billets",
            ),
            "336111": (
                "Automobile Manufacturing",
                "automobiles cars vehicles assembly sedans electric-vehicles",
            ),
        },
    },
    "42": {
        "words": "wholesale distributor merchant wholesalers distribution resellers",
        "codes": {
            "423430": (
                "Computer and Computer Peripheral Equipment and Software Merchant Wholesalers",
                "computers peripherals servers laptops printers software-licenses",
            ),
            "424410": (
                "General Line Grocery Merchant Wholesalers",
                "grocery foodservice canned dry-goods provisions",
            ),
            "424720": (
                "Petroleum and Petroleum Products Merchant Wholesalers (except Bulk Stations and Terminals)",
                "fuel diesel gasoline lubricants petroleum-products jobber",
            ),
            "423110": (
                "Automobile and Other Motor Vehicle Merchant Wholesalers",
                "motor-vehicles fleet trucks dealers auto auctions",
            ),
        },
    },
    "44": {
        "words": "retail stores shoppers customers outlets consumers",
        "codes": {
            "445110": (
                "Supermarkets and Other Grocery Retailers (except Convenience Retailers)",
                "supermarket groceries produce deli checkout",
            ),
            "458110": (
                "Clothing and Clothing Accessories Retailers",
                "apparel clothing fashion garments boutique",
            ),
            "441110": ("New Car Dealers", "dealership new-cars showroom test-drive leasing"),
            "444110": ("Home Centers", "home-improvement lumber tools hardware garden"),
        },
    },
    "48": {
        "words": "transportation logistics shipping freight carriers routes",
        "codes": {
            "481111": (
                "Scheduled Passenger Air Transportation",
                "airline passengers flights aircraft airports",
            ),
            "484121": (
                "General Freight Trucking, Long-Distance, Truckload",
                "trucking truckload tractor-trailers long-haul drivers",
            ),
            "483111": (
                "Deep Sea Freight Transportation",
                "ocean vessels containerships maritime bulk carriers",
            ),
            "492110": (
                "Couriers and Express Delivery Services",
                "courier parcels express packages last-mile",
            ),
        },
    },
    "51": {
        "words": "digital media technology platform content subscribers",
        "codes": {
            "513210": ("Software Publishers", "software saas applications licenses cloud-based"),
            "517111": (
                "Wired Telecommunications Carriers",
                "broadband fiber telephone cable internet-service",
            ),
            "518210": (
                "Computing Infrastructure Providers, Data Processing, Web Hosting, and Related Services",
                "hosting datacenter colocation servers data-processing",
            ),
            "512110": (
                "Motion Picture and Video Production",
                "films movies studio producers video-production",
            ),
        },
    },
    "52": {
        "words": "financial clients capital assets deposits investors",
        "codes": {
            "522110": ("Commercial Banking", "bank banking loans checking branches"),
            "524126": (
                "Direct Property and Casualty Insurance Carriers",
                "insurance policies premiums underwriting claims casualty",
            ),
            "523150": (
                "Investment Banking and Securities Intermediation",
                "securities brokerage underwriting trading mergers",
            ),
            "522292": ("Real Estate Credit", "mortgage mortgages lender home-loans refinancing"),
        },
    },
    "54": {
        "words": "professional services consulting clients expertise advisory",
        "codes": {
            "541110": ("Offices of Lawyers", "law attorneys litigation legal counsel"),
            "541211": ("Offices of Certified Public Accountants", "accounting audit tax cpa bookkeeping"),
            "541330": ("Engineering Services", "engineering design structural civil mechanical-engineers"),
            "541511": (
                "Custom Computer Programming Services",
                "programming developers custom-software coding apps",
            ),
        },
    },
    "62": {
        "words": "health patients care medical clinical",
        "codes": {
            "622110": (
                "General Medical and Surgical Hospitals",
                "hospital surgical emergency inpatient beds",
            ),
            "621210": ("Offices of Dentists", "dental dentists teeth orthodontics hygiene"),
            "623110": (
                "Nursing Care Facilities (Skilled Nursing Facilities)",
                "nursing skilled-nursing residents elderly rehabilitation",
            ),
            "621511": ("Medical Laboratories", "laboratory diagnostic testing specimens pathology"),
        },
    },
    "72": {
        "words": "hospitality guests food dining service",
        "codes": {
            "721110": ("Hotels (except Casino Hotels) and Motels", "hotel motel rooms lodging suites"),
            "722511": ("Full-Service Restaurants", "restaurant chefs menu waitstaff fine-dining"),
            "722513": ("Limited-Service Restaurants", "fast-food burgers drive-thru counter takeout"),
            "722515": ("Snack and Nonalcoholic Beverage Bars", "coffee cafe smoothies espresso donuts"),
        },
    },
}

# Synthetic sector intensities per NAICS-3 group in kg CO2e per M.EUR of value added, of the order of magnitude
# EXIOBASE gives (power and cement are >1e6, services ~1e4-1e5). Not EXIOBASE values.
INTENSITY_KG_PER_MEUR: dict[str, float] = {
    "111": 2.1e6,
    "112": 3.4e6,
    "113": 4.0e5,
    "211": 1.6e6,
    "212": 1.2e6,
    "221": 5.5e6,
    "236": 1.5e5,
    "237": 2.6e5,
    "238": 1.1e5,
    "311": 3.0e5,
    "325": 3.3e5,
    "327": 6.8e6,
    "331": 4.4e6,
    "336": 2.0e5,
    "423": 4.0e4,
    "424": 9.0e4,
    "445": 6.0e4,
    "458": 3.5e4,
    "441": 3.0e4,
    "444": 4.5e4,
    "481": 2.9e6,
    "484": 1.4e6,
    "483": 2.4e6,
    "492": 5.0e5,
    "513": 1.2e4,
    "517": 4.0e4,
    "518": 1.1e5,
    "512": 2.0e4,
    "522": 8.0e3,
    "524": 7.0e3,
    "523": 6.0e3,
    "541": 1.5e4,
    "622": 7.0e4,
    "621": 3.0e4,
    "623": 6.0e4,
    "721": 1.3e5,
    "722": 1.2e5,
}
EXIOBASE_SECTOR_NAMES = {
    "111": "Cultivation of oil seeds and cereal grains",
    "112": "Cattle farming",
    "113": "Forestry, logging",
    "211": "Extraction of crude petroleum and natural gas",
    "212": "Mining of coal, copper, nickel, lead and zinc ores",
    "221": "Production and distribution of electricity and water",
    "236": "Construction work (buildings)",
    "237": "Construction work (civil engineering)",
    "238": "Construction work (specialised trades)",
    "311": "Manufacture of bread and bakery products",
    "325": "Manufacture of pharmaceuticals",
    "327": "Manufacture of cement, lime and plaster",
    "331": "Manufacture of basic iron and steel",
    "336": "Manufacture of motor vehicles",
    "423": "Wholesale trade of durable goods",
    "424": "Wholesale trade of non-durable goods",
    "445": "Retail trade of food",
    "458": "Retail trade of clothing",
    "441": "Sale of motor vehicles",
    "444": "Retail trade of building materials",
    "481": "Air transport",
    "484": "Road freight transport",
    "483": "Sea and coastal water transport",
    "492": "Courier and postal activities",
    "513": "Software publishing",
    "517": "Telecommunications",
    "518": "Data processing and hosting",
    "512": "Motion picture and video production",
    "522": "Financial intermediation",
    "524": "Insurance",
    "523": "Securities activities",
    "541": "Professional, scientific and technical services",
    "622": "Hospital activities",
    "621": "Ambulatory health care",
    "623": "Residential care",
    "721": "Hotels",
    "722": "Restaurants",
}

GENERIC = (
    "leading provider company founded headquartered innovative trusted quality customers nationwide team "
    "solutions commitment sustainable growth regional family-owned global award-winning"
).split()
TEMPLATES = [
    "{name} is a {g1} {s1} company specialising in {c1} and {c2}, serving {s2} {g2} since {year}.",
    "Founded in {year}, {name} provides {c1}, {c2} and {c3} to {s1} {s2} across the {region}.",
    "{name} operates {c1} {s1} with a focus on {c2}; the {g1} firm is {g2} and {s2}-oriented.",
    "{g1} {s1} business {name} offers {c1} {c2} services and {c3} for {s2} in the {region}.",
    "At {name}, our {g1} {s2} team delivers {c1} and {c2}. {g2} {s1} {c3}.",
]
REGIONS = ["Midwest", "Northeast", "South", "West Coast", "Mountain states", "Gulf region", "Great Lakes"]
SYLLABLES = "ka lo mi ra ven tor al bri co den fa gra hel is jo ken lu mar nor ost pel qui ros sta tel ur vin wex yor zan".split()
SUFFIXES = ["Inc.", "LLC", "Corp.", "Group", "Holdings", "Co.", "Partners", "Industries", "Ltd."]


def _name(rng: random.Random, used: set[str]) -> str:
    while True:
        n = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()
        second = rng.choice(["", "", " " + "".join(rng.choice(SYLLABLES) for _ in range(2)).capitalize()])
        name = f"{n}{second} {rng.choice(SUFFIXES)}"
        if name not in used:
            used.add(name)
            return name


YEARS = (2019, 2020, 2021, 2022)
CSV_FILE_COLUMNS = (
    "Company Name",
    "Company Description",
    "NAICS Code",
    "NAICS_2 Code",
    "NAICS_3 Code",
    "NAICS_2 Title",
    "Year",
    "GHG emissions [kg CO2 eq.]",
    "Value Added [M.EUR]",
    "Employment [1000 p.]",
)
SECTOR_TITLES = {
    "11": "Agriculture, Forestry, Fishing and Hunting",
    "21": "Mining, Quarrying, and Oil and Gas Extraction",
    "22": "Utilities",
    "23": "Construction",
    "31": "Manufacturing",
    "32": "Manufacturing",
    "33": "Manufacturing",
    "42": "Wholesale Trade",
    "44": "Retail Trade",
    "45": "Retail Trade",
    "48": "Transportation and Warehousing",
    "49": "Transportation and Warehousing",
    "51": "Information",
    "52": "Finance and Insurance",
    "54": "Professional, Scientific, and Technical Services",
    "62": "Health Care and Social Assistance",
    "72": "Accommodation and Food Services",
}


def sector_figures(naics_3: str, year: int) -> tuple[float, float, float]:
    """(value added M.EUR, employment 1000 p., GHG kg CO2e) of a NAICS-3 group in a year (synthetic)."""
    value_added = round(1000.0 * (1 + int(naics_3) % 7) * 1.03 ** (year - 2019), 3)
    intensity = INTENSITY_KG_PER_MEUR[naics_3] * 0.96 ** (year - 2019)
    return value_added, round(value_added * 0.011, 4), round(value_added * intensity, 1)


def companies_rows(n: int, seed: int = 0) -> list[dict]:
    """Companies with the sample's internal keys (`code`, `title`, `sector`, ...), one dict per company."""
    rng = random.Random(seed)
    codes = [
        (s2, code, title, words.split(), SECTORS[s2]["words"].split())
        for s2, sec in SECTORS.items()
        for code, (title, words) in sec["codes"].items()
    ]
    # Unequal class sizes, as in the real data (some codes are much more frequent).
    weights = [1.0 + 2.0 * ((i * 7919) % 11) / 10 for i in range(len(codes))]
    used: set[str] = set()
    rows = []
    for _ in range(n):
        s2, code, title, cwords, swords = rng.choices(codes, weights=weights)[0]
        sibling = rng.choice([c for c in codes if c[0] == s2 and c[1] != code])
        other = rng.choice(codes)
        pool = cwords * 3 + sibling[3] + ([rng.choice(other[3])] if rng.random() < 0.5 else [])
        words = rng.sample(pool, 3)
        text = rng.choice(TEMPLATES).format(
            name=(name := _name(rng, used)),
            g1=rng.choice(GENERIC),
            g2=rng.choice(GENERIC),
            s1=rng.choice(swords),
            s2=rng.choice(swords),
            c1=words[0],
            c2=words[1],
            c3=words[2],
            year=rng.randint(1905, 2021),
            region=rng.choice(REGIONS),
        )
        year = rng.choice(YEARS)
        value_added, employment, ghg = sector_figures(code[:3], year)
        rows.append(
            {
                "name": name,
                "description": text,
                "code": code,
                "title": title,
                "year": year,
                # About 1 company in 25 has no GHG figure (the evaluation counts only those with one).
                "ghg": None if rng.random() < 0.04 else ghg,
                "value_added": value_added,
                "employment": employment,
            }
        )
    return rows


def csv_rows(rows: list[dict]) -> list[dict]:
    """The published single-file layout (`ExioNAICS.csv` as third-party loaders read it)."""
    out = []
    for r in rows:
        values = (
            r["name"],
            r["description"],
            r["code"],
            r["code"][:2],
            r["code"][:3],
            SECTOR_TITLES[r["code"][:2]],
            r["year"],
            "" if r["ghg"] is None else r["ghg"],
            r["value_added"],
            r["employment"],
        )
        out.append(dict(zip(CSV_FILE_COLUMNS, values, strict=True)))
    return out


def parquet_bytes(rows: list[dict]) -> bytes:
    """The parquet variant: HF loaders' column names, integer codes, a 6-digit title, no NAICS-2/3 columns."""
    import polars as pl

    df = pl.DataFrame(
        {
            "Company Name": [r["name"] for r in rows],
            "Company Description": [r["description"] for r in rows],
            "2022 NAICS Code": [int(r["code"]) for r in rows],
            "2022 NAICS Title": [r["title"] for r in rows],
            "Year": [r["year"] for r in rows],
            "GHG emissions [kg CO2 eq.]": [r["ghg"] for r in rows],
            "Value Added [M.EUR]": [r["value_added"] for r in rows],
            "Employment [1000 p.]": [r["employment"] for r in rows],
        },
        schema_overrides={
            "2022 NAICS Code": pl.Int64,
            "Year": pl.Int64,
            "GHG emissions [kg CO2 eq.]": pl.Float64,
        },
    )
    buf = io.BytesIO()
    df.write_parquet(buf, statistics=False)
    return buf.getvalue()


# Optional-source fixture: ExioML-shaped factor rows for several regions and years, and an EXIOBASE → NAICS
# mapping. ILLUSTRATIVE: the sector names follow EXIOBASE's naming style, the numbers are made up, and the mapping
# was written for this fixture; it is no published concordance.
FIXTURE_REGIONS = {"US": 1.0, "CN": 4.0, "DE": 0.5, "IN": 7.0}
FIXTURE_YEARS = (2017, 2019, 2020)  # sample years 2021 and 2022 take the nearest, 2020
EXTRA_SECTORS = {
    # a second EXIOBASE sector under an existing NAICS-3 prefix (their figures are summed) ...
    "Manufacture of other non-metallic mineral products": "327",
    # ... and a 6-digit prefix that overrides its NAICS-3 group (longest prefix wins)
    "Production of electricity by solar photovoltaic": "221114",
}
EXTRA_INTENSITY = {"327": 9.0e5, "221114": 3.0e4}


def exioml_factor_rows() -> list[dict]:
    sectors = [
        (EXIOBASE_SECTOR_NAMES[n3], n3, INTENSITY_KG_PER_MEUR[n3]) for n3 in sorted(EXIOBASE_SECTOR_NAMES)
    ]
    sectors += [(name, prefix, EXTRA_INTENSITY[prefix]) for name, prefix in EXTRA_SECTORS.items()]
    rows = []
    for region, factor in FIXTURE_REGIONS.items():
        for name, prefix, base in sectors:
            for year in FIXTURE_YEARS:
                va = round(500.0 * (1 + int(prefix) % 5) * factor**0.5 * 1.05 ** (year - 2017), 3)
                intensity = base * factor * 1.5 * 0.93 ** (year - 2017)
                rows.append(
                    {
                        "region": region,
                        "sector": name,
                        "Value Added [M.EUR]": va,
                        "Employment [1000 p.]": round(va * 0.012, 3),
                        "GHG emissions [kg CO2 eq.]": round(va * intensity, 1),
                        "Energy Carrier Net Total [TJ]": round(va * intensity / 7.0e4, 3),
                        "Year": year,
                    }
                )
    return rows


# Left out of the fixture mapping on purpose: companies predicted into it have no ExioML intensity (counted, listed).
UNMAPPED_NAICS_3 = "722"


def exioml_mapping_rows() -> list[dict]:
    rows = [
        {"exiobase_sector": EXIOBASE_SECTOR_NAMES[n3], "naics_code": n3}
        for n3 in sorted(EXIOBASE_SECTOR_NAMES)
        if n3 != UNMAPPED_NAICS_3
    ]
    rows += [{"exiobase_sector": name, "naics_code": prefix} for name, prefix in EXTRA_SECTORS.items()]
    return rows


def _csv_bytes(rows: list[dict]) -> bytes:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue().encode()


PARQUET_DIR = "parquet"
PARQUET_FILE = "ExioNAICS.parquet"
FACTORS_FILE = "ExioML_factor_accounting_PxP.csv"
MAPPING_FILE = "exiobase_naics_mapping.csv"


def write_sample(dest: Path, *, scale: int = 1, seed: int = 0) -> None:
    """Write `ExioNAICS.csv` (2,000 × scale companies) and `parquet/ExioNAICS.parquet` (800 × scale, another
    seed) into `dest`."""
    dest = Path(dest)
    (dest / PARQUET_DIR).mkdir(parents=True, exist_ok=True)
    (dest / COMPANIES_FILE).write_bytes(_csv_bytes(csv_rows(companies_rows(2000 * scale, seed))))
    (dest / PARQUET_DIR / PARQUET_FILE).write_bytes(parquet_bytes(companies_rows(800 * scale, seed + 1)))


def write_exioml_fixture(dest: Path) -> None:
    """The optional-source test fixture: an ExioML-shaped factor file (4 regions × 3 years) and a mapping."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    (dest / FACTORS_FILE).write_bytes(_csv_bytes(exioml_factor_rows()))
    (dest / MAPPING_FILE).write_bytes(_csv_bytes(exioml_mapping_rows()))


if __name__ == "__main__":
    import sys

    if len(sys.argv) == 3 and sys.argv[1] == "--fixture":
        write_exioml_fixture(Path(sys.argv[2]))
    else:
        write_sample(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("assets/exionaics"))
