"""GeoPlant / GeoLifeCLEF 2024: European plant surveys → validated surveys and predictors → species model → F1s@25."""

from dagster_project.datasets import define_dataset

DATASET = define_dataset(
    __name__,
    title="GeoPlant / GeoLifeCLEF 2024: plant species presence from surveys, environment and satellite patches",
    license="MIT",
    homepage="https://www.kaggle.com/competitions/geolifeclef-2024",
)
