-- Image statistics per split: how many images, how many have tracks, tracks per image, track coverage.
select
    split,
    count(*) as n_images,
    count(*) filter (where n_instances > 0) as n_positive_images,
    avg(case when n_instances > 0 then 1.0 else 0.0 end) as positive_share,
    sum(n_instances) as n_tracks,
    avg(n_instances) as tracks_per_image,
    avg(n_instances) filter (where n_instances > 0) as tracks_per_positive_image,
    max(n_instances) as max_tracks_per_image,
    avg(track_pixel_fraction) as mean_track_pixel_fraction,
    count(*) filter (where mask_source = 'npy') as n_masks_shipped,
    count(*) filter (where mask_source = 'polygons') as n_masks_rasterised
from {{ ref('cloudtracks_int_image_tracks') }}
group by split
order by split
