"""AGBD: a global-scale biomass dataset. GEDI L4A footprints with Sentinel-2, ALOS PALSAR-2, canopy height, land
cover and DEM patches, from the original HDF5 release or the Hugging Face `prs-eth/AGBD_raw` parquet shards
→ per-tile patch and footprint tables → GBDT biomass model → RMSE on the test tiles."""

from dagster_project.datasets import define_dataset

DATASET = define_dataset(
    __name__,
    title="AGBD: GEDI above-ground biomass with Sentinel-2, ALOS, canopy height, land cover and DEM patches",
    license="CC BY-NC 4.0",
    homepage="https://huggingface.co/datasets/prs-eth/AGBD_raw",
)
