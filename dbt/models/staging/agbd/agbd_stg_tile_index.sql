-- The source's tiles: one row per (tile, release file) with the footprints the file holds for the tile.
select
    tile,
    source_file,
    source_format,
    cast(year as integer) as year,
    cast(n_footprints as bigint) as n_footprints,
    splits[1] as split,
    cast(len(splits) as integer) as split_count
from {{ source('agbd', 'tile_index') }}
