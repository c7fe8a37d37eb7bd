-- Class-balanced pixel sample of the official HSI training boards.
-- Each class keeps at most `pcbvision_pixels_per_class` pixels, chosen by md5 of the pixel id (deterministic,
-- spread over boards and positions). Minority classes keep every pixel, so the sample is capped rather than
-- equalised; class_weight = sampled pixels / (classes x pixels of the class) makes the classes weigh the same.
-- The ranking runs on narrow columns only; spectra are joined for the chosen pixels afterwards.
-- Rows come out in a defined order (board, line, sample): a fit depends on the order of its rows, so an undefined
-- order would give a different model on every rebuild of the same data.
{% set per_class = var('pcbvision_pixels_per_class', 20000) %}
with ranked as (
    select
        pixel_id,
        label,
        row_number() over (partition by label order by md5(pixel_id)) as class_rank
    from {{ ref('pcbvision_stg_board_pixels') }}
    where hsi_split = 'train'
),

chosen as (
    select pixel_id, label from ranked where class_rank <= {{ per_class }}
),

counts as (
    select label, count(*) as class_pixels from chosen group by label
),

weights as (
    select
        label,
        (select count(*) from chosen)::double / ((select count(*) from counts) * class_pixels) as class_weight
    from counts
)

select
    p.pixel_id,
    p.board,
    p.line,
    p.sample,
    p.label,
    p.class_name,
    p.on_pcb,
    p.spectrum,
    w.class_weight
from {{ ref('pcbvision_stg_board_pixels') }} as p
inner join chosen as c on p.pixel_id = c.pixel_id
inner join weights as w on p.label = w.label
where p.hsi_split = 'train'
order by p.board, p.line, p.sample
