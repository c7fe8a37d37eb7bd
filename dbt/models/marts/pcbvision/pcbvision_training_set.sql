-- Class-balanced pixel sample of the official HSI training boards.
-- Each class keeps at most `pcbvision_pixels_per_class` pixels, chosen by md5 of the pixel id (deterministic,
-- spread over boards and positions). Minority classes keep every pixel, so the sample is capped rather than
-- equalised; class_weight = sampled pixels / (classes x pixels of the class) makes the classes weigh the same.
{% set per_class = var('pcbvision_pixels_per_class', 20000) %}
with ranked as (
    select
        *,
        row_number() over (partition by label order by md5(pixel_id)) as class_rank
    from {{ ref('pcbvision_stg_board_pixels') }}
    where hsi_split = 'train'
),

sampled as (
    select * from ranked where class_rank <= {{ per_class }}
),

counts as (
    select label, count(*) as class_pixels from sampled group by label
)

select
    s.pixel_id,
    s.board,
    s.line,
    s.sample,
    s.label,
    s.class_name,
    s.on_pcb,
    s.spectrum,
    (select count(*) from sampled)::double / ((select count(*) from counts) * c.class_pixels) as class_weight
from sampled as s
inner join counts as c on s.label = c.label
