-- The latest card of each model.
with source as (
    select * from {{ source('platform', 'model_cards') }}
)

select
    model,
    dataset,
    evaluation,
    model_run_id,
    evaluation_run_id,
    headline_metric_name,
    cast(headline_metric as double) as headline_metric,
    cast(training_energy_kwh as double) as training_energy_kwh,
    cast(training_co2e_kg as double) as training_co2e_kg,
    cast(training_water_l as double) as training_water_l,
    cast(evaluation_energy_kwh as double) as evaluation_energy_kwh,
    cast(evaluation_co2e_kg as double) as evaluation_co2e_kg,
    cast(evaluation_water_l as double) as evaluation_water_l,
    footprint_status,
    cast(total_co2e_g as double) as total_co2e_g,
    cast(carbon_efficiency_value as double) as carbon_efficiency_value,
    carbon_efficiency_unit,
    carbon_efficiency_label,
    license,
    card_path,
    created_at
from source
where model is not null
qualify row_number() over (partition by model order by created_at desc) = 1
