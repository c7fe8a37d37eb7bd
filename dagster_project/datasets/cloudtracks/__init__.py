"""CloudTracks: MODIS cloud images with ship-track polygons → validated masks → ship-track segmentation model."""

import dagster as dg

from dagster_project.datasets import Dataset
from dagster_project.datasets.cloudtracks import assets, models

DATASET = Dataset(
    name="cloudtracks",
    title="CloudTracks: ship tracks in MODIS satellite images of clouds",
    defs=dg.Definitions(
        assets=[
            assets.cloudtracks_raw_files,
            assets.cloudtracks_tables,
            assets.cloudtracks_masks,
            assets.cloudtracks_coco,
            models.cloudtracks_segmentation_model,
            models.cloudtracks_model_evaluation,
        ]
    ),
    list_remote=assets.list_remote,
    license="not stated on the Zenodo record (check before redistribution)",
    homepage="https://zenodo.org/records/10042922",
)
