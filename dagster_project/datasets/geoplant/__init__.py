"""GeoPlant / GeoLifeCLEF 2024: European plant surveys → validated surveys and predictors → species model → F1s@25."""

import dagster as dg

from dagster_project.datasets import Dataset
from dagster_project.datasets.geoplant import assets, models

DATASET = Dataset(
    name="geoplant",
    title="GeoPlant / GeoLifeCLEF 2024: plant species presence from surveys, environment and satellite patches",
    defs=dg.Definitions(
        assets=[
            assets.geoplant_raw_files,
            assets.geoplant_pa_occurrences,
            assets.geoplant_pa_surveys,
            assets.geoplant_po_occurrences,
            assets.geoplant_env_features,
            assets.geoplant_patches,
            models.geoplant_top25_global,
            models.geoplant_top25_country,
            models.geoplant_top25_district_region,
            models.geoplant_knn_model,
            models.geoplant_model_evaluation,
        ]
    ),
    license="MIT",
    homepage="https://www.kaggle.com/competitions/geolifeclef-2024",
)
