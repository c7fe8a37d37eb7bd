-- One row per board: size, splits, PCB coverage and pixels per class (General masks).
with classes as (
    select
        board,
        any_value(hsi_split) as hsi_split,
        sum(pixels) as pixels,
        sum(on_pcb_pixels) as on_pcb_pixels,
        sum(pixels) filter (where label = 0) as others_pixels,
        sum(pixels) filter (where label = 1) as ic_pixels,
        sum(pixels) filter (where label = 2) as capacitor_pixels,
        sum(pixels) filter (where label = 3) as connectors_pixels,
        sum(monoseg_pixels) > 0 as has_monoseg_mask,
        sum(monoseg_pixels - monoseg_agreeing_pixels) as monoseg_differing_pixels
    from {{ ref('pcbvision_int_board_class_pixels') }}
    group by board
),

extent as (
    select board, max(line) + 1 as lines, max(sample) + 1 as samples
    from {{ ref('pcbvision_stg_board_pixels') }}
    group by board
)

select
    c.board,
    c.hsi_split,
    coalesce(r.rgb_split, 'unknown') as rgb_split,
    e.lines,
    e.samples,
    c.pixels,
    c.on_pcb_pixels::double / c.pixels as on_pcb_fraction,
    coalesce(c.others_pixels, 0) as others_pixels,
    coalesce(c.ic_pixels, 0) as ic_pixels,
    coalesce(c.capacitor_pixels, 0) as capacitor_pixels,
    coalesce(c.connectors_pixels, 0) as connectors_pixels,
    1 - coalesce(c.others_pixels, 0)::double / c.pixels as component_fraction,
    c.has_monoseg_mask,
    c.monoseg_differing_pixels
from classes as c
inner join extent as e on c.board = e.board
left join {{ ref('pcbvision_stg_rgb_images') }} as r on c.board = r.board
order by c.board
