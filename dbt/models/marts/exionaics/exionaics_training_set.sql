-- Model-ready companies with a deterministic, stratified train/validation/test split, ordered by company name
-- (the classifier reads them in this order).
-- ExioNAICS has no official split. Within each NAICS-6 class, companies are ordered by md5(company_name); the
-- first 15 % of each class go to test, the next 15 % to validation, the rest to train. Classes with fewer than 3
-- companies stay entirely in train. The split is therefore stable across runs and machines, and changes for a
-- company only if its name changes.
-- `exioml_*` columns: the optional ExioML intensity of the company's own code at its year (null without ExioML
-- files); the join key (code, year) is unique in that mart, so the join never adds rows.
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
        row_number() over (partition by naics_6_code order by md5(company_name), company_name) as class_rank,
        count(*) over (partition by naics_6_code) as class_size
    from companies
)

select
    r.company_name,
    r.company_description,
    r.naics_6_code,
    r.naics_6_title,
    r.naics_4_code,
    r.naics_3_code,
    r.naics_2_code,
    r.naics_sector_code,
    r.naics_sector_title,
    r.report_year,
    r.value_added_meur,
    r.employment_thousands,
    r.ghg_emissions_kg_co2e,
    x.carbon_intensity_kg_per_meur as exioml_intensity_kg_per_meur,
    x.factor_year as exioml_factor_year,
    case
        when r.class_size < 3 then 'train'
        when (r.class_rank - 1) / r.class_size < 0.15 then 'test'
        when (r.class_rank - 1) / r.class_size < 0.30 then 'validation'
        else 'train'
    end as split
from ranked as r
left join {{ ref('exionaics_exioml_intensity') }} as x
    on r.naics_6_code = x.naics_6_code and r.report_year = x.report_year
order by r.company_name
