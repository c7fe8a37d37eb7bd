-- Hyperspectral pixels of every materialised board, typed, with a readable class name and a pixel id.
select
    'pcb' || cast(board as varchar) || ':' || cast(line as varchar) || ':' || cast(sample as varchar) as pixel_id,
    cast(board as integer) as board,
    cast(line as integer) as line,
    cast(sample as integer) as sample,
    cast(label as integer) as label,
    case cast(label as integer)
        when 0 then 'others' when 1 then 'IC' when 2 then 'capacitor' when 3 then 'connectors'
    end as class_name,
    cast(label_monoseg as integer) as label_monoseg,
    on_pcb,
    hsi_split,
    cast(mean_reflectance as double) as mean_reflectance,
    spectrum,
    source_file,
    source_row
from {{ source('pcbvision', 'board_pixels') }}
