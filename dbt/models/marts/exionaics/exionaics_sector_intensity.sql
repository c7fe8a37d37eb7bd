-- Carbon intensity per NAICS-3 subsector and region (kg CO2e per M.EUR of value added): the factor used to turn
-- a predicted sector and a company's value added into an emission estimate (E = value added × intensity).
select
    region,
    naics_3_code,
    string_agg(distinct exiobase_sector, '; ') as exiobase_sectors,
    sum(ghg_emissions_kg_co2e) / sum(value_added_meur) as carbon_intensity_kg_per_meur,
    max(factor_year) as factor_year
from {{ ref('exionaics_stg_sector_factors') }}
group by region, naics_3_code
