-- Pixel counts and reflectance statistics per board and General class.
select
    board,
    hsi_split,
    label,
    class_name,
    count(*) as pixels,
    count(*) filter (where on_pcb) as on_pcb_pixels,
    count(label_monoseg) as monoseg_pixels,
    count(*) filter (where label_monoseg = label) as monoseg_agreeing_pixels,
    avg(mean_reflectance) as mean_reflectance,
    coalesce(stddev_samp(mean_reflectance), 0) as std_reflectance
from {{ ref('pcbvision_stg_board_pixels') }}
group by board, hsi_split, label, class_name
