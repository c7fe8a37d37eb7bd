-- Optional second source: carbon intensity from ExioML factors (kg CO2e per M.EUR of value added) per NAICS-6
-- code and company year. Empty when no ExioML file was supplied.
-- Rules (each keeps one row per code and year, so a company never gets several):
--   * region: only `US` rows (ExioNAICS companies are United States companies); other regions are never pooled.
--   * year: the company's year if the US factors have it, else the nearest US year present (ties go to the
--     earlier year); `year_rule` says which. Years are never pooled.
--   * sector: the user's EXIOBASE → NAICS mapping, longest matching NAICS prefix of the code; when several
--     EXIOBASE sectors map to that prefix, intensity = their summed GHG / summed value added (same region, year).
with us_factors as (
    select * from {{ ref('exionaics_stg_sector_factors') }}
    where region = 'US'
),

codes as (
    select naics_6_code from {{ ref('exionaics_int_naics_hierarchy') }}
),

code_prefix as (
    select c.naics_6_code, m.naics_prefix, m.exiobase_sector
    from codes as c
    inner join {{ ref('exionaics_stg_sector_mapping') }} as m
        on starts_with(c.naics_6_code, m.naics_prefix)
    qualify rank() over (partition by c.naics_6_code order by m.prefix_length desc) = 1
),

company_years as (
    select distinct report_year
    from {{ ref('exionaics_stg_companies') }}
    where report_year is not null
),

year_pick as (
    select y.report_year, f.factor_year
    from company_years as y
    cross join (select distinct factor_year from us_factors) as f
    qualify row_number() over (
        partition by y.report_year order by abs(f.factor_year - y.report_year), f.factor_year
    ) = 1
)

select
    p.naics_6_code,
    y.report_year,
    y.factor_year,
    case when y.factor_year = y.report_year then 'exact' else 'nearest' end as year_rule,
    p.naics_prefix,
    string_agg(distinct f.exiobase_sector, '; ' order by f.exiobase_sector) as exiobase_sectors,
    sum(f.ghg_emissions_kg_co2e) / nullif(sum(f.value_added_meur), 0) as carbon_intensity_kg_per_meur
from code_prefix as p
cross join year_pick as y
inner join us_factors as f
    on f.exiobase_sector = p.exiobase_sector and f.factor_year = y.factor_year
group by p.naics_6_code, y.report_year, y.factor_year, p.naics_prefix
order by p.naics_6_code, y.report_year
