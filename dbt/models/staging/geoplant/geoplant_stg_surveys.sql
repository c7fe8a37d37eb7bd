-- Presence-absence surveys, one row per survey, in snake_case.
select
    "surveyId" as survey_id,
    split,
    lat,
    lon,
    cast(year as integer) as survey_year,
    "geoUncertaintyInM" as geo_uncertainty_m,
    "areaInM2" as area_m2,
    country,
    region,
    county,
    district,
    "speciesIds" as species_ids,
    cast(n_species as integer) as n_species,
    source_file,
    source_row
from {{ source('geoplant', 'pa_surveys') }}
