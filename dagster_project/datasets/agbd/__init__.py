"""AGBD: a global-scale biomass dataset. GEDI L4A footprints with Sentinel-2, ALOS PALSAR-2, canopy height, land
cover and DEM patches, from the original HDF5 release or the Hugging Face `prs-eth/AGBD_raw` parquet shards
→ per-tile patch and footprint tables → GBDT biomass model → RMSE on the test tiles."""

import dagster as dg

from dagster_project.datasets import Dataset
from dagster_project.datasets.agbd import assets, models

DATASET = Dataset(
    name="agbd",
    title="AGBD: GEDI above-ground biomass with Sentinel-2, ALOS, canopy height, land cover and DEM patches",
    defs=dg.Definitions(
        assets=[
            assets.agbd_raw_files,
            assets.agbd_tile_index,
            assets.agbd_patches,
            assets.agbd_footprints,
            models.agbd_biomass_model,
            models.agbd_model_evaluation,
        ]
    ),
    partitions=assets.TILES,
    discover_partitions=assets.discover_tiles,
    license="CC BY-NC 4.0",
    homepage="https://huggingface.co/datasets/prs-eth/AGBD_raw",
)
