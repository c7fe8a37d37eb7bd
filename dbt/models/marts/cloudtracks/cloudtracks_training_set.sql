-- Images the segmentation model trains (train), tunes (val) and is scored (test) on, with their targets.
-- The split is the authors' (train.csv / val.csv / test.csv), never re-drawn here.
select
    image_id,
    split,
    image_file,
    raw_image_path,
    height,
    width,
    channels,
    n_instances as track_count,
    track_pixel_fraction,
    n_instances > 0 as has_tracks,
    mask_source
from {{ ref('cloudtracks_int_image_tracks') }}
order by split, image_id
