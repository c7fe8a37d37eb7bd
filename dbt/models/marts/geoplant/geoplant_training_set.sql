-- Model-ready surveys: location, grouping keys, the species list (target), the subset of the 10 km spatial block
-- hold-out (train / holdout; test = the official PA test surveys, no species) and every environmental predictor
-- present in the download (missing values kept: each model imputes them from its fitting subset). Ordered by
-- survey_id so that every reader sees the rows in one defined order.
select
    s.survey_id,
    s.subset,
    s.block_id,
    s.lat,
    s.lon,
    s.country,
    s.region,
    s.district,
    s.district_region,
    s.species_ids,
    s.n_species,
    e.* exclude (survey_id, split)
from {{ ref('geoplant_surveys') }} as s
inner join {{ ref('geoplant_stg_env_features') }} as e using (survey_id)
order by s.survey_id
