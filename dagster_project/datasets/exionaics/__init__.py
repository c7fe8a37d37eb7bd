"""ExioNAICS (GREEN paper): company descriptions → NAICS sector → emission estimate."""

from dagster_project.datasets import define_dataset
from dagster_project.datasets.exionaics import source

DATASET = define_dataset(
    __name__,
    title="ExioNAICS: company descriptions with NAICS codes and sector emission figures",
    license=source.LICENSE,
    homepage="https://huggingface.co/datasets/Yvnminc/ExioNAICS",
)
