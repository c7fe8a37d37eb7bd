-- Typed, trimmed companies; one row per company name (the first record wins if a name repeats), ordered by name.
with source as (
    select * from {{ source('exionaics', 'companies') }}
),

ranked as (
    select
        *,
        row_number() over (partition by company_name order by source_file, source_row) as name_rank
    from source
    where company_name is not null and naics_code is not null
)

select
    company_name,
    company_description,
    naics_code as naics_6_code,
    naics_title as naics_6_title,
    naics_2_title,
    cast(year as integer) as report_year,
    cast(value_added_meur as double) as value_added_meur,
    cast(employment_thousands as double) as employment_thousands,
    cast(ghg_emissions_kg_co2e as double) as ghg_emissions_kg_co2e,
    source_file,
    source_row
from ranked
where name_rank = 1
order by company_name
