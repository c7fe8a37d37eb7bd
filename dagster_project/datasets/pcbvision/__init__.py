"""PCB-Vision: hyperspectral (Specim FX10, 224 VNIR bands) and RGB images of 53 printed circuit boards with
4-class masks (others, IC, capacitor, connectors) → per-board pixel tables → per-pixel spectral classifier."""

import dagster as dg

from dagster_project.datasets import Dataset
from dagster_project.datasets.pcbvision import assets, models, source

DATASET = Dataset(
    name="pcbvision",
    title="PCB-Vision: RGB and hyperspectral images of printed circuit boards with component masks",
    defs=dg.Definitions(
        assets=[
            assets.pcbvision_raw_files,
            assets.pcbvision_board_pixels,
            assets.pcbvision_rgb_images,
            models.pcbvision_pixel_classifier,
            models.pcbvision_model_evaluation,
        ]
    ),
    partitions=assets.BOARDS,
    discover_partitions=assets.discover_boards,
    partitions_for_files=assets.partitions_for_files,
    list_remote=assets.list_remote,
    # Code: Apache-2.0 (hifexplo/PCBVision); the paper is CC BY-NC-SA 4.0; no data licence was found.
    license="unknown (data); paper CC BY-NC-SA 4.0; code Apache-2.0",
    homepage=source.RODARE_RECORD_URL,
)
