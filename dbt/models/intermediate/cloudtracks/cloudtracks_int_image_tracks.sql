-- Each image with the summary of its annotated tracks (zero tracks -> zeros, not nulls).
with tracks as (
    select
        image_id,
        count(*) as n_instances,
        sum(length_px) as total_track_length_px,
        max(length_px) as max_track_length_px,
        avg(width_px) as mean_track_width_px
    from {{ ref('cloudtracks_stg_instances') }}
    group by image_id
)

select
    i.image_id,
    i.split,
    i.image_file,
    i.raw_image_path,
    i.mask_source,
    i.mask_kind,
    i.mask_track_count,
    i.true_track_count,
    i.height,
    i.width,
    i.channels,
    i.contains_shiptrack,
    i.track_pixels,
    i.track_pixel_fraction,
    i.mean_intensity,
    coalesce(t.n_instances, 0) as n_instances,
    coalesce(t.total_track_length_px, 0) as total_track_length_px,
    coalesce(t.max_track_length_px, 0) as max_track_length_px,
    t.mean_track_width_px
from {{ ref('cloudtracks_stg_images') }} as i
left join tracks as t using (image_id)
