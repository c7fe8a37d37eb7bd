-- Presence-only records (GBIF), one row per record, in snake_case. A view: the 5M rows stay in parquet.
select
    "surveyId" as record_id,
    "speciesId" as species_id,
    lat,
    lon,
    cast(year as integer) as record_year,
    publisher,
    "taxonRank" as taxon_rank,
    try_cast(date as date) as record_date,
    "dayOfYear" as day_of_year,
    "geoUncertaintyInM" as geo_uncertainty_m,
    source_file,
    source_row
from {{ source('geoplant', 'po_occurrences') }}
