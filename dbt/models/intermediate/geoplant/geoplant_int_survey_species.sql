-- One row per (survey, species) of the training subset, with the grouping keys of the naive baselines.
-- district_region is null where the district or the region is null: the organisers' notebook matches groups with
-- pandas `==`, so such a survey belongs to no group (it never silently becomes a region-only group).
select
    s.survey_id,
    unnest(s.species_ids) as species_id,
    s.country,
    s.region,
    case
        when s.district is not null and s.region is not null then s.district || ' | ' || s.region
    end as district_region
from {{ ref('geoplant_stg_surveys') }} as s
inner join {{ ref('geoplant_int_survey_blocks') }} as b using (survey_id)
where b.subset = 'train'
order by s.survey_id, species_id
