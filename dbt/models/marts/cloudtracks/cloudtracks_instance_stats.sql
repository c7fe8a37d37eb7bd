-- Ship-track instance statistics per split: size and shape of the annotated tracks.
select
    split,
    count(*) as n_instances,
    avg(length_px) as mean_length_px,
    median(length_px) as median_length_px,
    min(length_px) as min_length_px,
    max(length_px) as max_length_px,
    avg(width_px) as mean_width_px,
    avg(area_px) as mean_area_px,
    count(*) filter (where shape_type = 'polygon') as n_polygon_shapes,
    count(*) filter (where shape_type in ('linestrip', 'line')) as n_line_shapes
from {{ ref('cloudtracks_stg_instances') }}
group by split
order by split
