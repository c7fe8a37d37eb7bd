-- Typed images with their track-pixel share; the validation flags stay in the Python table (checked there).
select
    image_id,
    split,
    image_file,
    raw_image_path,
    json_file,
    mask_file,
    mask_source,
    mask_kind,
    cast(mask_track_count as integer) as mask_track_count,
    cast(height as integer) as height,
    cast(width as integer) as width,
    cast(channels as integer) as channels,
    cast(track_count as integer) as track_count,
    cast(true_track_count as integer) as true_track_count,
    contains_shiptrack,
    cast(track_pixels as bigint) as track_pixels,
    cast(track_pixels as double) / (cast(height as double) * width) as track_pixel_fraction,
    cast(mean_intensity as double) as mean_intensity,
    source_file,
    cast(source_row as integer) as source_row
from {{ source('cloudtracks', 'images') }}
