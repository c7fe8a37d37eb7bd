-- Footprint of training and evaluation, rolled up per asset and run, per asset, per run, per dataset and in total.
with log as (
    select * from {{ ref('platform_stg_footprint_log') }}
),

rolled as (
    select
        case
            when grouping(run_id) = 0 and grouping(asset_key) = 0 then 'asset_run'
            when grouping(asset_key) = 0 then 'asset'
            when grouping(run_id) = 0 then 'run'
            when grouping(dataset) = 0 then 'dataset'
            else 'total'
        end as level,
        dataset,
        asset_key,
        run_id,
        count(measurement_id) as measurements,
        count(measurement_id) filter (where status = 'measured') as measured_count,
        count(measurement_id) filter (where status = 'modelled') as modelled_count,
        count(measurement_id) filter (where status = 'unmeasured') as unmeasured_count,
        coalesce(sum(wall_s), 0) as wall_s,
        coalesce(sum(cpu_s), 0) as cpu_s,
        coalesce(sum(energy_kwh), 0) as energy_kwh,
        coalesce(sum(co2e_kg), 0) as co2e_kg,
        coalesce(sum(water_l), 0) as water_l,
        min(started_at) as first_started_at,
        max(ended_at) as last_ended_at,
        string_agg(distinct method, '; ' order by method) as methods
    from log
    group by grouping sets (
        (dataset, asset_key, run_id),
        (dataset, asset_key),
        (run_id),
        (dataset),
        ()
    )
)

select
    level || ':' || coalesce(dataset, '*') || ':' || coalesce(asset_key, '*') || ':' || coalesce(run_id, '*') as grain_key,
    *
from rolled
