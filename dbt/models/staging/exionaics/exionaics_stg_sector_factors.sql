-- ExioML sector factors with their carbon intensity (kg CO2e per M.EUR of value added).
select
    region,
    sector as exiobase_sector,
    naics_3_code,
    cast(year as integer) as factor_year,
    cast(value_added_meur as double) as value_added_meur,
    cast(ghg_emissions_kg_co2e as double) as ghg_emissions_kg_co2e,
    cast(energy_carrier_net_total_tj as double) as energy_carrier_net_total_tj,
    cast(carbon_intensity_kg_per_meur as double) as carbon_intensity_kg_per_meur
from {{ source('exionaics', 'sector_factors') }}
