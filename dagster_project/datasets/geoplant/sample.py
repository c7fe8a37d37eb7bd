"""Deterministic synthetic GeoLifeCLEF 2024 (GeoPlant) sample in the Kaggle GLC24 on-disk layout.

Every file is written in the source's own format (comma-separated metadata in long format, `;`-separated
Landsat CSV with `eos` gaps, 128x128 JPEG patches under `<id[-2:]>/<id[-4:-2]>/<id>.jpeg`), so the readers
under test are the ones that read the real data. Species presence follows Gaussian climatic niches (annual
mean temperature and precipitation, both driven by latitude and elevation), so a model that looks at the
environment beats the naive top-25 baselines, as on the real data.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
from PIL import Image

from . import source

# Countries where most real PA surveys are (France, Denmark, Switzerland, Czechia), as lon/lat boxes, with
# their share of sites.
COUNTRIES = {
    "France": ((-4.5, 43.0, 7.5, 50.5), 0.45),
    "Switzerland": ((6.2, 45.9, 10.3, 47.7), 0.2),
    "Denmark": ((8.2, 54.7, 12.6, 57.6), 0.15),
    "Czechia": ((12.3, 48.7, 18.7, 50.9), 0.2),
}
# Presence-only records also come from neighbouring countries (38 in the real file).
PO_EXTRA_COUNTRIES = {
    "Germany": (6.0, 47.5, 14.5, 54.5),
    "Italy": (7.0, 38.5, 16.5, 46.5),
    "Spain": (-8.5, 37.0, 3.0, 43.2),
}
PUBLISHERS = ["iNaturalist.org", "Pl@ntNet", "Observation.org", "Naturalis", "Artportalen", "InfoFlora"]
SEPARATOR_PA = ","
N_SPECIES = 600
HUMAN_FOOTPRINT = [
    "Built1994",
    "Built2009",
    "Croplands1992",
    "Croplands2005",
    "HFP1993",
    "HFP2009",
    "Lights1994",
    "Lights2009",
    "NavWater1994",
    "NavWater2009",
    "Pasture1993",
    "Pasture2009",
    "Popdensity1990",
    "Popdensity2010",
    "Railways",
    "Roads",
]
SOILGRIDS = ["bdod", "cec", "cfvo", "clay", "nitrogen", "phh2o", "sand", "silt", "soc"]
LANDSAT_SAMPLE_BANDS = ("red", "nir")


@dataclass(frozen=True)
class Species:
    ids: np.ndarray  # speciesId values, a sparse subset of the 11,255-wide id space
    t_opt: np.ndarray  # optimum annual mean temperature (Bio1, degC)
    t_width: np.ndarray
    p_opt: np.ndarray  # optimum annual precipitation (Bio12, mm)
    p_width: np.ndarray
    prevalence: np.ndarray


def make_species(rng: np.random.Generator, n: int = N_SPECIES) -> Species:
    ids = np.sort(rng.choice(source.NUM_SPECIES, size=n, replace=False))
    return Species(
        ids=ids,
        t_opt=rng.uniform(-2.0, 16.0, n),
        t_width=rng.uniform(0.7, 1.8, n),
        p_opt=rng.uniform(500.0, 2000.0, n),
        p_width=rng.uniform(80.0, 300.0, n),
        prevalence=rng.beta(1.2, 3.0, n) + 0.05,
    )


def elevation_m(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """A smooth terrain: the Alps, the Massif Central, the Pyrenees, the Bohemian hills and flat lowlands."""
    alps = 2300 * np.exp(-(((lat - 46.4) / 0.7) ** 2 + ((lon - 8.5) / 2.2) ** 2))
    central = 1000 * np.exp(-(((lat - 45.4) / 0.7) ** 2 + ((lon - 2.9) / 0.8) ** 2))
    pyrenees = 1800 * np.exp(-(((lat - 42.8) / 0.4) ** 2 + ((lon - 0.5) / 2.0) ** 2))
    bohemia = 600 * np.exp(-(((lat - 49.5) / 0.8) ** 2 + ((lon - 15.0) / 2.5) ** 2))
    return 40 + alps + central + pyrenees + bohemia


def climate(lat: np.ndarray, lon: np.ndarray, elev: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(annual mean temperature degC, annual precipitation mm): lapse rate, latitude and oceanity."""
    temp = 15.5 - 0.55 * (lat - 43.0) - 0.0064 * elev - 0.08 * (lon - 2.0)
    precip = 620 + 0.55 * elev + 25.0 * np.clip(5.0 - lon, 0, None) + 8.0 * (lat - 43.0)
    return temp, precip


def presence_probability(species: Species, temp: np.ndarray, precip: np.ndarray) -> np.ndarray:
    """(n_points, n_species) probability that each species is present at each point."""
    # In place: the 5M-row benchmark file computes this for 25k x 600 matrices 200 times.
    dt = temp[:, None] - species.t_opt[None, :]
    dt /= species.t_width[None, :]
    np.square(dt, out=dt)
    dp = precip[:, None] - species.p_opt[None, :]
    dp /= species.p_width[None, :]
    np.square(dp, out=dp)
    dt += dp
    dt *= -0.5
    np.exp(dt, out=dt)
    dt *= species.prevalence[None, :]
    return dt


def _country_sites(rng: np.random.Generator, n_sites: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    names = list(COUNTRIES)
    weights = np.array([COUNTRIES[c][1] for c in names])
    country_idx = rng.choice(len(names), size=n_sites, p=weights / weights.sum())
    boxes = np.array([COUNTRIES[c][0] for c in names])[country_idx]
    lon = rng.uniform(boxes[:, 0], boxes[:, 2])
    lat = rng.uniform(boxes[:, 1], boxes[:, 3])
    return np.array(names)[country_idx], lat, lon


def _region(country: np.ndarray, lat: np.ndarray, lon: np.ndarray, elev: np.ndarray) -> np.ndarray:
    """Biogeographic region, upper case as in the GLC24 `region` column."""
    region = np.full(lat.shape, "CONTINENTAL", dtype=object)
    region[(country == "France") & (lon < 2.0)] = "ATLANTIC"
    region[(country == "Denmark") & (lon < 9.6)] = "ATLANTIC"
    region[(country == "France") & (lat < 44.3) & (lon > 2.5)] = "MEDITERRANEAN"
    region[elev > 1100] = "ALPINE"
    return region


def _district(country: np.ndarray, lat: np.ndarray, lon: np.ndarray, cell_deg: float) -> np.ndarray:
    codes = {"France": "FR", "Switzerland": "CH", "Denmark": "DK", "Czechia": "CZ"}
    rows = np.floor(lat / cell_deg).astype(int)
    cols = np.floor(lon / cell_deg).astype(int)
    return np.array(
        [
            f"{codes[c]}-{r:03d}{'E' if k >= 0 else 'W'}{abs(k):03d}"
            for c, r, k in zip(country, rows, cols, strict=True)
        ]
    )


@dataclass
class Surveys:
    survey_id: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    elev: np.ndarray
    country: np.ndarray
    region: np.ndarray
    county: np.ndarray
    district: np.ndarray
    year: np.ndarray
    uncertainty: np.ndarray
    area: np.ndarray


def make_surveys(rng: np.random.Generator, n_surveys: int, ids: np.ndarray) -> Surveys:
    """PA plots cluster in sites (as in vegetation-plot databases), with steep elevation changes in a site."""
    n_sites = max(4, n_surveys // 5)
    country_s, lat_s, lon_s = _country_sites(rng, n_sites)
    site = rng.integers(0, n_sites, n_surveys)
    lat = np.clip(lat_s[site] + rng.normal(0, 0.03, n_surveys), *source.LAT_RANGE)
    lon = np.clip(lon_s[site] + rng.normal(0, 0.045, n_surveys), *source.LON_RANGE)
    base = elevation_m(lat, lon)
    elev = np.clip(base + rng.normal(0, 120 + 0.35 * base), 0, 4200)
    country = country_s[site]
    return Surveys(
        survey_id=ids,
        lat=lat,
        lon=lon,
        elev=elev,
        country=country,
        region=_region(country, lat, lon, elev),
        county=_district(country, lat, lon, 0.25),
        district=_district(country, lat, lon, 0.5),
        year=rng.integers(2017, 2022, n_surveys),
        uncertainty=rng.choice([5.0, 10.0, 25.0, 50.0, 100.0], n_surveys),
        area=rng.choice([10.0, 16.0, 25.0, 50.0, 100.0, 200.0, 400.0], n_surveys),
    )


def _survey_species(rng: np.random.Generator, species: Species, s: Surveys) -> list[np.ndarray]:
    temp, precip = climate(s.lat, s.lon, s.elev)
    prob = presence_probability(species, temp, precip)
    present = rng.random(prob.shape) < prob
    out = []
    for i in range(len(s.survey_id)):
        idx = np.flatnonzero(present[i])
        if idx.size == 0:  # a survey lists at least one species
            idx = np.array([int(np.argmax(prob[i]))])
        out.append(species.ids[idx])
    return out


def _pa_frame(s: Surveys, species_lists: list[np.ndarray] | None) -> pl.DataFrame:
    base = pl.DataFrame(
        {
            "lon": np.round(s.lon, 5),
            "lat": np.round(s.lat, 5),
            "year": s.year,
            "geoUncertaintyInM": s.uncertainty,
            "areaInM2": s.area,
            "region": s.region.astype(str),
            "country": s.country.astype(str),
            "county": s.county,
            "disctrict": s.district,  # the source's own misspelling
            "surveyId": s.survey_id,
        }
    )
    if species_lists is None:
        return base
    counts = [len(x) for x in species_lists]
    long = base.select(pl.all().gather(np.repeat(np.arange(len(counts)), counts)))
    return long.with_columns(pl.Series("speciesId", np.concatenate(species_lists))).select(
        [*base.columns[:-1], "speciesId", "surveyId"]
    )


def _env_tables(rng: np.random.Generator, s: Surveys) -> dict[str, pl.DataFrame]:
    """One frame per environmental CSV, keyed by its file stem suffix (bioclimatic, elevation, ...)."""
    n = len(s.survey_id)
    temp, precip = climate(s.lat, s.lon, s.elev)
    temp = temp + rng.normal(0, 0.15, n)
    precip = precip + rng.normal(0, 20, n)
    seasonality = 450 + 25 * (s.lon - 2.0) + rng.normal(0, 15, n)
    bio = {
        "Bio1": temp,
        "Bio2": 8.0 + 0.1 * (s.lon - 2.0) + rng.normal(0, 0.3, n),
        "Bio3": 33 + rng.normal(0, 1.5, n),
        "Bio4": seasonality,
        "Bio5": temp + 10.5 + 0.02 * seasonality / 10,
        "Bio6": temp - 9.0 - 0.02 * seasonality / 10,
        "Bio7": 19.5 + 0.04 * seasonality / 10,
        "Bio8": temp + rng.normal(2, 1.5, n),
        "Bio9": temp + rng.normal(-1, 1.5, n),
        "Bio10": temp + 7.5,
        "Bio11": temp - 6.5,
        "Bio12": precip,
        "Bio13": precip / 9.0,
        "Bio14": precip / 18.0,
        "Bio15": 20 + rng.normal(0, 4, n),
        "Bio16": precip / 3.4,
        "Bio17": precip / 5.6,
        "Bio18": precip / 4.2,
        "Bio19": precip / 4.6,
    }
    frames = {
        "bioclimatic": pl.DataFrame({"surveyId": s.survey_id, **{k: np.round(v, 2) for k, v in bio.items()}})
    }
    frames["elevation"] = pl.DataFrame({"surveyId": s.survey_id, "Elevation": np.round(s.elev, 1)})
    urban = np.clip(rng.gamma(1.2, 2.0, n) - s.elev / 800, 0, None)
    hf = {f"HumanFootprint-{name}": np.round(urban * rng.uniform(0.5, 1.5, n), 2) for name in HUMAN_FOOTPRINT}
    frames["human_footprint"] = pl.DataFrame({"surveyId": s.survey_id, **hf})
    forest = 1 / (1 + np.exp(-(precip - 1000) / 200))
    lc = {
        f"LandCover-{i}": np.round(rng.uniform(0, 1, n) * (forest if i <= 5 else 1 - forest), 3)
        for i in range(1, 14)
    }
    frames["landcover"] = pl.DataFrame({"surveyId": s.survey_id, **lc})
    soil_base = {
        "bdod": (120, 15),
        "cec": (220, 60),
        "cfvo": (120, 50),
        "clay": (220, 60),
        "nitrogen": (300, 120),
        "phh2o": (62, 8),
        "sand": (380, 120),
        "silt": (400, 90),
        "soc": (400, 200),
    }
    soil = {}
    for name, (mu, sd) in soil_base.items():
        values = np.round(mu + sd * rng.standard_normal(n) - (s.elev / 100 if name == "phh2o" else 0), 1)
        # The real soilgrids extraction has gaps (water, cities): about 2% empty cells, filled downstream.
        soil[f"Soilgrid-{name}"] = pl.Series(values).scatter(np.flatnonzero(rng.random(n) < 0.02), None)
    frames["soilgrids"] = pl.DataFrame({"surveyId": s.survey_id, **soil})
    return frames


def _landsat(rng: np.random.Generator, s: Surveys, band: str) -> pl.DataFrame:
    """Quarterly medians 2000_1..2020_4 as integers (reflectance x 1e4), `eos` where no clear image exists."""
    n = len(s.survey_id)
    temp, precip = climate(s.lat, s.lon, s.elev)
    green = 1 / (1 + np.exp(-(precip - 900) / 250)) * np.clip((temp + 2) / 14, 0.1, 1.0)
    cols = source.landsat_columns()
    season = np.tile(np.array([0.3, 1.0, 0.8, 0.2]), len(cols) // 4)
    if band == "nir":
        values = 1500 + 2200 * green[:, None] * season[None, :]
    else:
        values = 900 - 500 * green[:, None] * season[None, :]
    values = np.round(values + rng.normal(0, 60, (n, len(cols)))).astype(np.int64).astype(str).astype(object)
    values[rng.random(values.shape) < 0.04] = "eos"
    frame = pl.DataFrame({c: values[:, j].astype(str) for j, c in enumerate(cols)})
    return frame.insert_column(0, pl.Series(source.LANDSAT_KEY, s.survey_id))


def _smooth(rng: np.random.Generator, channels: int) -> np.ndarray:
    low = rng.random((8, 8, channels)).astype(np.float32)
    img = Image.fromarray((low * 255).astype(np.uint8).squeeze())
    return (
        np.asarray(img.resize((source.PATCH_SIZE, source.PATCH_SIZE), Image.BILINEAR), dtype=np.float32) / 255
    )


def _patches(rng: np.random.Generator, s: Surveys) -> list[tuple[bytes, bytes]]:
    """(RGB JPEG, NIR JPEG) per survey; low JPEG quality keeps the sample small (the real ones are ~5 KB)."""
    temp, precip = climate(s.lat, s.lon, s.elev)
    green = 1 / (1 + np.exp(-(precip - 900) / 250)) * np.clip((temp + 2) / 14, 0.1, 1.0)
    out = []
    for g in green:
        tex = _smooth(rng, 3)
        rgb = np.stack(
            [0.35 - 0.2 * g + 0.2 * tex[..., 0], 0.3 + 0.25 * g + 0.2 * tex[..., 1], 0.25 + 0.2 * tex[..., 2]]
        )
        nir = 0.25 + 0.6 * g + 0.15 * _smooth(rng, 1)
        rgb_img = Image.fromarray((np.clip(rgb.transpose(1, 2, 0), 0, 1) * 255).astype(np.uint8), "RGB")
        nir_img = Image.fromarray((np.clip(nir, 0, 1) * 255).astype(np.uint8), "L")
        rb, nb = io.BytesIO(), io.BytesIO()
        rgb_img.save(rb, format="JPEG", quality=12, optimize=True)
        nir_img.save(nb, format="JPEG", quality=12, optimize=True)
        out.append((rb.getvalue(), nb.getvalue()))
    return out


def po_frame(rng: np.random.Generator, species: Species, n_rows: int, first_id: int) -> pl.DataFrame:
    """Presence-only rows (one record per row): opportunistic locations, species drawn from the niches."""
    boxes = [b for b, _ in COUNTRIES.values()] + list(PO_EXTRA_COUNTRIES.values())
    box = np.array(boxes)[rng.integers(0, len(boxes), n_rows)]
    lon = rng.uniform(box[:, 0], box[:, 2])
    lat = rng.uniform(box[:, 1], box[:, 3])
    elev = elevation_m(lat, lon) * rng.uniform(0.6, 1.4, n_rows)
    temp, precip = climate(lat, lon, elev)
    prob = presence_probability(species, temp, precip) + 1e-6
    cum = np.cumsum(prob, axis=1)
    pick = (cum < rng.random(n_rows)[:, None] * cum[:, -1:]).sum(axis=1)
    year = rng.integers(2017, 2022, n_rows)
    doy = rng.integers(60, 300, n_rows)
    day = pl.Series((year - 1970).astype("datetime64[Y]").astype("datetime64[D]") + (doy - 1))
    return pl.DataFrame(
        {
            "publisher": np.array(PUBLISHERS)[rng.integers(0, len(PUBLISHERS), n_rows)],
            "year": year,
            "month": day.dt.month().cast(pl.Int64),
            "day": day.dt.day().cast(pl.Int64),
            "lat": np.round(lat, 5),
            "lon": np.round(lon, 5),
            "geoUncertaintyInM": rng.choice([3.0, 10.0, 30.0, 100.0, 1000.0], n_rows),
            "taxonRank": np.where(rng.random(n_rows) < 0.97, "SPECIES", "SUBSPECIES"),
            "date": day.dt.to_string("%Y-%m-%d"),
            "dayOfYear": doy,
            "speciesId": species.ids[pick],
            "surveyId": np.arange(first_id, first_id + n_rows),
        }
    )


def write_po_file(path: Path, n_rows: int, *, seed: int = 0, chunk_rows: int = 25_000) -> None:
    """Write a presence-only CSV of `n_rows` rows in chunks (a 5M-row benchmark file needs little memory)."""
    rng = np.random.default_rng([seed, 2])
    species = make_species(np.random.default_rng([seed, 0]))
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        for start in range(0, n_rows, chunk_rows):
            frame = po_frame(rng, species, min(chunk_rows, n_rows - start), 1 + start)
            frame.write_csv(fh, include_header=start == 0)


def write_sample(dest: Path, *, scale: int = 1, seed: int = 0) -> None:
    """Write the synthetic GLC24 bundle (Kaggle layout): `scale` x (300 + 50 PA surveys, 5k PO rows)."""
    dest = Path(dest)
    rng = np.random.default_rng([seed, 1])
    species = make_species(np.random.default_rng([seed, 0]))
    n_train, n_test = 300 * scale, 50 * scale
    ids = rng.choice(np.arange(200_000, 4_000_000), size=n_train + n_test, replace=False)
    splits = {
        "train": make_surveys(rng, n_train, ids[:n_train]),
        "test": make_surveys(rng, n_test, ids[n_train:]),
    }

    dest.mkdir(parents=True, exist_ok=True)
    train_species = _survey_species(rng, species, splits["train"])
    _pa_frame(splits["train"], train_species).write_csv(dest / source.PA_TRAIN_FILE)
    _pa_frame(splits["test"], None).write_csv(dest / source.PA_TEST_FILE)
    write_po_file(dest / source.PO_FILES[0], 5000 * scale, seed=seed)
    test_ids = splits["test"].survey_id
    pl.DataFrame({"surveyId": test_ids, "predictions": ["1 2 3 4 5"] * len(test_ids)}).write_csv(
        dest / source.SAMPLE_SUBMISSION_FILE
    )

    for split, s in splits.items():
        for stem, frame in _env_tables(rng, s).items():
            out = dest / source.env_relpath(split, stem)
            out.parent.mkdir(parents=True, exist_ok=True)
            frame.write_csv(out)
        for band in LANDSAT_SAMPLE_BANDS:
            out = dest / source.landsat_relpath(split, band)
            out.parent.mkdir(parents=True, exist_ok=True)
            _landsat(rng, s, band).write_csv(out, separator=";")
        for sid, (rgb, nir) in zip(s.survey_id, _patches(rng, s), strict=True):
            for kind, payload in (("rgb", rgb), ("nir", nir)):
                out = dest / source.patch_relpath(split, kind, int(sid))
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_bytes(payload)


if __name__ == "__main__":  # pragma: no cover - convenience for regenerating assets/geoplant
    import sys

    write_sample(Path(sys.argv[1]) if len(sys.argv) > 1 else source.REPO_SAMPLE)
