-- Environmental predictors per survey (bioclim, elevation, human footprint, land cover, soilgrids, Landsat band
-- means), already filled with the PA-train median by the Python asset. Predictor columns keep the source's names.
select
    "surveyId" as survey_id,
    * exclude ("surveyId")
from {{ source('geoplant', 'env_features') }}
