-- Per tile: footprints the source holds vs footprints that reached the warehouse. A tile whose partition failed
-- (or was never materialised) shows up here as missing, and its tests fail the build, so no model is trained on
-- an incomplete training set.
with expected as (
    select tile, sum(n_footprints) as expected_footprints
    from {{ ref('agbd_stg_tile_index') }}
    group by tile
),

loaded as (
    select tile, count(*) as loaded_footprints
    from {{ ref('agbd_stg_footprints') }}
    group by tile
)

select
    e.tile,
    e.expected_footprints,
    coalesce(l.loaded_footprints, 0) as loaded_footprints,
    e.expected_footprints - coalesce(l.loaded_footprints, 0) as missing_footprints
from expected as e
left join loaded as l on e.tile = l.tile
