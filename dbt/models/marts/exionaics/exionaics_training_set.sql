-- Model-ready companies with a deterministic, stratified train/validation/test split.
-- ExioNAICS has no official split. Within each NAICS-6 class, companies are ordered by md5(company_name); the
-- first 15 % of each class go to test, the next 15 % to validation, the rest to train. Classes with fewer than 3
-- companies stay entirely in train. The split is therefore stable across runs and machines, and changes for a
-- company only if its name changes.
with companies as (
    select
        c.*,
        h.naics_4_code,
        h.naics_3_code,
        h.naics_2_code,
        h.naics_sector_code,
        h.naics_sector_title
    from {{ ref('exionaics_stg_companies') }} as c
    inner join {{ ref('exionaics_int_naics_hierarchy') }} as h using (naics_6_code)
),

ranked as (
    select
        *,
        row_number() over (partition by naics_6_code order by md5(company_name)) as class_rank,
        count(*) over (partition by naics_6_code) as class_size
    from companies
)

select
    company_name,
    company_description,
    naics_6_code,
    naics_6_title,
    naics_4_code,
    naics_3_code,
    naics_2_code,
    naics_sector_code,
    naics_sector_title,
    value_added_meur,
    ghg_emissions_kg_co2e,
    case
        when class_size < 3 then 'train'
        when (class_rank - 1) / class_size < 0.15 then 'test'
        when (class_rank - 1) / class_size < 0.30 then 'validation'
        else 'train'
    end as split
from ranked
