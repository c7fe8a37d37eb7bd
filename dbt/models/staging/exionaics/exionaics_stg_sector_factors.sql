-- ExioML factor rows as supplied (every region and year); the intensity mart filters the US and the year.
select
    factor_table,
    region,
    sector as exiobase_sector,
    cast(year as integer) as factor_year,
    cast(value_added_meur as double) as value_added_meur,
    cast(employment_thousands as double) as employment_thousands,
    cast(ghg_emissions_kg_co2e as double) as ghg_emissions_kg_co2e,
    cast(energy_carrier_net_total_tj as double) as energy_carrier_net_total_tj
from {{ source('exionaics', 'sector_factors') }}
