-- Typed ship-track instances: geometry summary, bounding box and the polygon itself (pixel coordinates).
-- Built after cloudtracks_stg_images: its `relationships` test reads that table, and fails where it does not exist yet.
-- depends_on: {{ ref('cloudtracks_stg_images') }}
select
    image_id || '#' || cast(instance_id as varchar) as instance_key,
    image_id,
    split,
    cast(instance_id as integer) as instance_id,
    shape_type,
    cast(n_points as integer) as n_points,
    cast(length_px as double) as length_px,
    cast(width_px as double) as width_px,
    cast(area_px as double) as area_px,
    cast(bbox_x_min as double) as bbox_x_min,
    cast(bbox_y_min as double) as bbox_y_min,
    cast(bbox_x_max - bbox_x_min as double) as bbox_width,
    cast(bbox_y_max - bbox_y_min as double) as bbox_height,
    polygon_x,
    polygon_y,
    source_file,
    cast(source_row as integer) as source_row
from {{ source('cloudtracks', 'instances') }}
