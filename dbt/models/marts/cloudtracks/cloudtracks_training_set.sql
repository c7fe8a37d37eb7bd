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
    true_track_count as track_count,
    track_pixel_fraction,
    true_track_count > 0 as has_tracks,
    mask_source,
    mask_kind
from {{ ref('cloudtracks_int_image_tracks') }}
-- A defined row order (image_id is unique): the model reads its rows in this order, so a rebuild with the same
-- content fits the same model.
order by split, image_id
