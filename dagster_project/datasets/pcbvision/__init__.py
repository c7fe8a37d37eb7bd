"""PCB-Vision: hyperspectral (Specim FX10, 224 VNIR bands) and RGB images of 53 printed circuit boards with
4-class masks (others, IC, capacitor, connectors) → per-board pixel tables → per-pixel spectral classifier."""

from dagster_project.datasets import define_dataset
from dagster_project.datasets.pcbvision import source

DATASET = define_dataset(
    __name__,
    title="PCB-Vision: RGB and hyperspectral images of printed circuit boards with component masks",
    # Code: Apache-2.0 (hifexplo/PCBVision); the paper is CC BY-NC-SA 4.0; no data licence was found.
    license="unknown (data); paper CC BY-NC-SA 4.0; code Apache-2.0",
    homepage=source.RODARE_RECORD_URL,
)
