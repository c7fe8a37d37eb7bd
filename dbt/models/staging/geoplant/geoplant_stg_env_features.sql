-- Environmental predictors per survey from the optional families present (bioclim, elevation, human footprint,
-- land cover, soilgrids, Landsat band means). Missing values are kept: each model imputes them from its fitting
-- subset only. Predictor columns keep the source's names.
select
    "surveyId" as survey_id,
    * exclude ("surveyId")
from {{ source('geoplant', 'env_features') }}
