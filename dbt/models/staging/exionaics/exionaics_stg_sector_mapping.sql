-- EXIOBASE sector → NAICS prefix (2 to 6 digits), as supplied by the user.
select distinct
    exiobase_sector,
    naics_code as naics_prefix,
    length(naics_code) as prefix_length
from {{ source('exionaics', 'sector_mapping') }}
where exiobase_sector is not null and naics_code is not null
