-- One row per (survey, species) of the training subset, with the grouping keys of the naive baselines.
select
    s.survey_id,
    unnest(s.species_ids) as species_id,
    s.country,
    s.region,
    coalesce(s.district, s.region) || ' | ' || s.region as district_region
from {{ ref('geoplant_stg_surveys') }} as s
inner join {{ ref('geoplant_int_survey_blocks') }} as b using (survey_id)
where b.subset = 'train'
