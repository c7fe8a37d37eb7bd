-- The footprint log, one row per measurement (a measurement file copied twice counts once).
with source as (
    select * from {{ source('platform', 'footprint_log') }}
)

select
    measurement_id,
    run_id,
    asset_key,
    coalesce(nullif(dataset, ''), split_part(asset_key, '_', 1)) as dataset,
    partition_key,
    task,
    started_at,
    ended_at,
    cast(wall_s as double) as wall_s,
    cast(cpu_s as double) as cpu_s,
    cast(peak_rss_mb as double) as peak_rss_mb,
    cast(energy_kwh as double) as energy_kwh,
    cast(co2e_kg as double) as co2e_kg,
    cast(water_l as double) as water_l,
    status,
    method,
    measured,
    unmeasured_reason,
    grid_country,
    cast(grid_intensity_g_per_kwh as double) as grid_intensity_g_per_kwh,
    cast(wue_onsite_l_per_kwh as double) as wue_onsite_l_per_kwh,
    cast(water_offsite_l_per_kwh as double) as water_offsite_l_per_kwh,
    hardware
from source
where measurement_id is not null
qualify row_number() over (partition by measurement_id order by ended_at) = 1
