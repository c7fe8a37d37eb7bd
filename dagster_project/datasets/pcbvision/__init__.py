"""PCB-Vision: hyperspectral (Specim FX10, 224 VNIR bands) and RGB images of 53 printed circuit boards."""
