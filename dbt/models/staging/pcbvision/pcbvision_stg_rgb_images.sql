-- One row per board's RGB photograph: size, mean colour, class pixel counts of the RGB masks, RGB split.
select
    cast(board as integer) as board,
    cast(height as integer) as height,
    cast(width as integer) as width,
    mean_red,
    mean_green,
    mean_blue,
    rgb_split,
    hsi_split,
    general_others_pixels,
    general_ic_pixels,
    general_capacitor_pixels,
    general_connectors_pixels,
    monoseg_others_pixels,
    monoseg_ic_pixels,
    monoseg_capacitor_pixels,
    monoseg_connectors_pixels,
    source_file
from {{ source('pcbvision', 'rgb_images') }}
