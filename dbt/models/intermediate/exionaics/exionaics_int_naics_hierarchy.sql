-- The NAICS hierarchy of every code seen: 6-digit industry → 4-digit industry group → 3-digit subsector →
-- 2-digit sector. Three sectors span several 2-digit prefixes (31-33 Manufacturing, 44-45 Retail Trade,
-- 48-49 Transportation and Warehousing); `naics_sector_code` uses the official combined code. Everything is
-- derived from the 6-digit code: the file's optional NAICS-2/3 columns are only checked against it on ingestion.
-- The title is optional (null when the file has none); where several spellings occur the smallest is kept.
with codes as (
    select naics_6_code, min(naics_6_title) as naics_6_title
    from {{ ref('exionaics_stg_companies') }}
    group by naics_6_code
)

select
    naics_6_code,
    naics_6_title,
    left(naics_6_code, 4) as naics_4_code,
    left(naics_6_code, 3) as naics_3_code,
    left(naics_6_code, 2) as naics_2_code,
    case
        when left(naics_6_code, 2) in ('31', '32', '33') then '31-33'
        when left(naics_6_code, 2) in ('44', '45') then '44-45'
        when left(naics_6_code, 2) in ('48', '49') then '48-49'
        else left(naics_6_code, 2)
    end as naics_sector_code,
    case left(naics_6_code, 2)
        when '11' then 'Agriculture, Forestry, Fishing and Hunting'
        when '21' then 'Mining, Quarrying, and Oil and Gas Extraction'
        when '22' then 'Utilities'
        when '23' then 'Construction'
        when '31' then 'Manufacturing' when '32' then 'Manufacturing' when '33' then 'Manufacturing'
        when '42' then 'Wholesale Trade'
        when '44' then 'Retail Trade' when '45' then 'Retail Trade'
        when '48' then 'Transportation and Warehousing' when '49' then 'Transportation and Warehousing'
        when '51' then 'Information'
        when '52' then 'Finance and Insurance'
        when '53' then 'Real Estate and Rental and Leasing'
        when '54' then 'Professional, Scientific, and Technical Services'
        when '55' then 'Management of Companies and Enterprises'
        when '56' then 'Administrative and Support and Waste Management and Remediation Services'
        when '61' then 'Educational Services'
        when '62' then 'Health Care and Social Assistance'
        when '71' then 'Arts, Entertainment, and Recreation'
        when '72' then 'Accommodation and Food Services'
        when '81' then 'Other Services (except Public Administration)'
        when '92' then 'Public Administration'
    end as naics_sector_title
from codes
order by naics_6_code
