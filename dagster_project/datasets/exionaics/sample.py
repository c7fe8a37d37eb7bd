"""Deterministic synthetic ExioNAICS sample (company descriptions → NAICS-6 → emissions) and ExioML-shaped factors.

Why synthetic: the real ExioNAICS descriptions are scraped company texts whose redistribution in a code repository
we cannot vouch for, and this machine cannot download them. The sample keeps the real column names and code
system (2022 NAICS codes and titles), and gives each NAICS-6 code its own vocabulary (plus shared sector words and
cross-sector noise) so a text classifier learns something real, and NAICS-2 is easier than NAICS-6, as in the
paper. Emissions are value added × a sector carbon intensity × log-normal noise, so the revenue × intensity estimate
has a realistic, non-zero error.

Regenerate with `python -m dagster_project samples exionaics`.
"""

import csv
import io
import math
import random
from pathlib import Path

COMPANIES_FILE = "ExioNAICS.csv"
FACTORS_FILE = "ExioML_factors.csv"

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

# ExioML-shaped sector factors: one row per NAICS-3 concordance group. Intensity in kg CO2e per M.EUR of value
# added, of the order of magnitude EXIOBASE gives (power and cement are >1e6, services ~1e4-1e5).
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


def companies_rows(n: int, seed: int = 0) -> list[dict]:
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
        value_added = round(math.exp(rng.gauss(math.log(25.0), 1.2)), 3)  # M.EUR
        intensity = INTENSITY_KG_PER_MEUR[code[:3]]
        ghg = round(value_added * intensity * math.exp(rng.gauss(0.0, 0.45)), 1)
        rows.append(
            {
                "Company Name": name,
                "Company Description": text,
                "NAICS Code": code,
                "NAICS_2 Code": s2,
                "NAICS Title": title,
                "Year": rng.choice([2019, 2020, 2021, 2022]),
                # About 1 company in 8 has no reported emissions, as in the real data (MAPE only where present).
                "GHG emissions [kg CO2 eq.]": "" if rng.random() < 0.12 else ghg,
                "Value Added [M.EUR]": value_added,
                "Employment [1000 p.]": round(value_added * rng.uniform(0.004, 0.02), 4),
            }
        )
    return rows


def factor_rows() -> list[dict]:
    rows = []
    for n3 in sorted(INTENSITY_KG_PER_MEUR):
        va = 1000.0 * (1 + (int(n3) % 7))
        rows.append(
            {
                "Region": "US",
                "Sector": EXIOBASE_SECTOR_NAMES[n3],
                "NAICS Code": n3,
                "Value Added [M.EUR]": va,
                "Employment [1000 p.]": round(va * 0.011, 3),
                "GHG emissions [kg CO2 eq.]": va * INTENSITY_KG_PER_MEUR[n3],
                "Energy Carrier Net Total [TJ]": round(va * INTENSITY_KG_PER_MEUR[n3] / 7.0e4, 3),
                "Year": 2022,
            }
        )
    return rows


def _csv_bytes(rows: list[dict]) -> bytes:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue().encode()


def write_sample(dest: Path, *, scale: int = 1, seed: int = 0) -> None:
    """Write `ExioNAICS.csv` (2,000 × scale companies) and `ExioML_factors.csv` into `dest`."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    (dest / COMPANIES_FILE).write_bytes(_csv_bytes(companies_rows(2000 * scale, seed)))
    (dest / FACTORS_FILE).write_bytes(_csv_bytes(factor_rows()))
