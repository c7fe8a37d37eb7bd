-- Per HSI split and General class: boards, pixels, share of the split's pixels and reflectance.
with per_class as (
    select
        hsi_split,
        label,
        class_name,
        count(distinct board) as boards,
        sum(pixels) as pixels,
        sum(on_pcb_pixels) as on_pcb_pixels,
        sum(mean_reflectance * pixels) / sum(pixels) as mean_reflectance
    from {{ ref('pcbvision_int_board_class_pixels') }}
    group by hsi_split, label, class_name
)

select
    hsi_split || ':' || class_name as split_class,
    hsi_split,
    label,
    class_name,
    boards,
    pixels,
    pixels::double / sum(pixels) over (partition by hsi_split) as pixel_share,
    on_pcb_pixels,
    mean_reflectance
from per_class
order by hsi_split, label
