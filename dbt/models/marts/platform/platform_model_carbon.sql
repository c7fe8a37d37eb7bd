-- One row per trained model: its card's headline metric, footprint and carbon-efficiency label, with the
-- lifetime footprint of all its training runs from the log.
with cards as (
    select * from {{ ref('platform_stg_model_cards') }}
),

lifetime as (
    select
        asset_key,
        count(*) as training_runs,
        coalesce(sum(energy_kwh), 0) as lifetime_training_energy_kwh,
        coalesce(sum(co2e_kg), 0) as lifetime_training_co2e_kg,
        coalesce(sum(water_l), 0) as lifetime_training_water_l
    from {{ ref('platform_stg_footprint_log') }}
    where task = 'training'
    group by asset_key
)

select
    cards.model,
    cards.dataset,
    cards.evaluation,
    cards.headline_metric_name,
    cards.headline_metric,
    cards.training_energy_kwh,
    cards.training_co2e_kg,
    cards.training_water_l,
    cards.evaluation_co2e_kg,
    cards.total_co2e_g,
    cards.carbon_efficiency_value,
    cards.carbon_efficiency_unit,
    cards.carbon_efficiency_label,
    cards.footprint_status,
    coalesce(lifetime.training_runs, 0) as training_runs,
    coalesce(lifetime.lifetime_training_energy_kwh, 0) as lifetime_training_energy_kwh,
    coalesce(lifetime.lifetime_training_co2e_kg, 0) as lifetime_training_co2e_kg,
    coalesce(lifetime.lifetime_training_water_l, 0) as lifetime_training_water_l,
    cards.license,
    cards.card_path,
    cards.created_at as card_created_at
from cards
left join lifetime on lifetime.asset_key = cards.model
