"""ExioNAICS (GREEN paper): company descriptions → NAICS sector → emission estimate."""

import dagster as dg

from dagster_project.datasets import Dataset
from dagster_project.datasets.exionaics import assets, models, source

DATASET = Dataset(
    name="exionaics",
    title="ExioNAICS: company descriptions with NAICS codes and sector emission figures",
    defs=dg.Definitions(
        assets=[
            assets.exionaics_raw_files,
            assets.exionaics_companies,
            assets.exionaics_sector_factors,
            assets.exionaics_sector_mapping,
            models.exionaics_naics_classifier,
            models.exionaics_model_evaluation,
        ]
    ),
    license=source.LICENSE,
    homepage="https://huggingface.co/datasets/Yvnminc/ExioNAICS",
)
