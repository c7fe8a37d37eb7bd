"""CloudTracks: MODIS cloud images with ship-track polygons → validated masks → ship-track segmentation model."""

from dagster_project.datasets import define_dataset

DATASET = define_dataset(
    __name__,
    title="CloudTracks: ship tracks in MODIS satellite images of clouds",
    license="not stated on the Zenodo record (check before redistribution)",
    homepage="https://zenodo.org/records/10042922",
)
