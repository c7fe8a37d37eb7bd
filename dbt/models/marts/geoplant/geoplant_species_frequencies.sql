-- How often each species is recorded, per scope: the whole training subset (global), per country, per
-- biogeographic region, per district + region, and over the presence-only records (presence_only). PA scopes
-- count surveys of the TRAINING subset only (hold-out blocks excluded), so the naive baselines built from this
-- table never see the surveys they are evaluated on.
with pa as (
    select 'global' as scope, 'all' as scope_key, survey_id, species_id from {{ ref('geoplant_int_survey_species') }}
    union all
    select 'country', country, survey_id, species_id from {{ ref('geoplant_int_survey_species') }}
    union all
    select 'region', region, survey_id, species_id from {{ ref('geoplant_int_survey_species') }}
    union all
    select 'district_region', district_region, survey_id, species_id from {{ ref('geoplant_int_survey_species') }}
),

-- A survey whose key is null belongs to no group of that scope (it still counts in `global`).
pa_keyed as (
    select * from pa where scope_key is not null
),

pa_counts as (
    select
        scope,
        scope_key,
        species_id,
        count(distinct survey_id) as n_records,
        max(scope_surveys) as scope_total
    from (
        select *, count(distinct survey_id) over (partition by scope, scope_key) as scope_surveys from pa_keyed
    )
    group by scope, scope_key, species_id
),

po_counts as (
    select
        'presence_only' as scope,
        'all' as scope_key,
        species_id,
        count(*) as n_records,
        max(total) as scope_total
    from (select species_id, count(*) over () as total from {{ ref('geoplant_stg_po_occurrences') }})
    group by species_id
),

counts as (
    select * from pa_counts
    union all
    select * from po_counts
)

select
    scope,
    scope_key,
    species_id,
    n_records,
    scope_total,
    n_records / scope_total as frequency,
    row_number() over (partition by scope, scope_key order by n_records desc, species_id) as species_rank
from counts
order by scope, scope_key, species_rank
