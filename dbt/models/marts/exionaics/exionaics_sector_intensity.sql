-- Sector carbon intensity from the ExioNAICS file itself (the default path; no other file needed): kg CO2e per
-- million EUR of value added, per NAICS-6 code and year, from the training companies only (so the test split's
-- figures never feed the factor it is scored with). ExioNAICS joins sector figures to each company, so the
-- intensity is sum(GHG) / sum(value added) over the training companies of that code and year.
select
    naics_6_code,
    report_year,
    count(*) as training_companies,
    sum(ghg_emissions_kg_co2e) / sum(value_added_meur) as carbon_intensity_kg_per_meur,
    'exionaics file, training split' as intensity_source
from {{ ref('exionaics_training_set') }}
where
    split = 'train'
    and ghg_emissions_kg_co2e is not null
    and value_added_meur > 0
group by naics_6_code, report_year
order by naics_6_code, report_year
