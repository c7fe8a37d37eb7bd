-- Per biome and official split: how many footprints and tiles, and the biomass / canopy height / HV they carry.
select
    biome_name,
    split,
    count(*) as footprints,
    count(distinct tile) as tiles,
    avg(agbd) as agbd_mean,
    stddev_samp(agbd) as agbd_std,
    median(agbd) as agbd_median,
    avg(canopy_height) as canopy_height_mean,
    avg(alos_hv_db) as alos_hv_db_mean
from {{ ref('agbd_training_set') }}
group by biome_name, split
