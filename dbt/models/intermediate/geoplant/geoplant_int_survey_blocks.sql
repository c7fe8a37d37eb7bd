-- Spatial block hold-out on a 10 x 10 km grid (GeoPlant has no official validation split; the organisers split
-- train/test the same way). Coordinates are projected with an equirectangular approximation (110.574 km per
-- degree of latitude, 111.320 * cos(lat) km per degree of longitude) and floored to 10 km cells. A cell is held
-- out when md5_number(block_id) % 100 < var('geoplant_holdout_percent') (default 20 on the small sample; the
-- organisers held out 5 %), so every survey of a cell lands on the same side and the split is stable across runs.
with surveys as (
    select
        *,
        lon * 111.320 * cos(radians(lat)) as x_km,
        lat * 110.574 as y_km
    from {{ ref('geoplant_stg_surveys') }}
),

blocks as (
    select
        *,
        cast(floor(x_km / 10) as bigint) || '_' || cast(floor(y_km / 10) as bigint) as block_id
    from surveys
)

select
    survey_id,
    split,
    x_km,
    y_km,
    block_id,
    case
        when split = 'test' then 'test'
        when md5_number(block_id) % 100 < {{ var('geoplant_holdout_percent', 20) }} then 'holdout'
        else 'train'
    end as subset
from blocks
