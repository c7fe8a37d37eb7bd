-- Presence-absence surveys with their 10 km block and subset (train / holdout / test).
select
    s.survey_id,
    s.split,
    b.subset,
    b.block_id,
    s.lat,
    s.lon,
    s.survey_year,
    s.geo_uncertainty_m,
    s.area_m2,
    s.country,
    s.region,
    s.county,
    s.district,
    -- null where the district or the region is null (no group: the organisers' fallback applies)
    case
        when s.district is not null and s.region is not null then s.district || ' | ' || s.region
    end as district_region,
    s.species_ids,
    s.n_species,
    s.source_file,
    s.source_row
from {{ ref('geoplant_stg_surveys') }} as s
inner join {{ ref('geoplant_int_survey_blocks') }} as b using (survey_id)
order by s.survey_id
