-- One row per footprint with the official tile split, the biome of its centre pixel and the authors' land-cover
-- encoding (encode_lc: (cos|sin(2*pi*lc/100) + 1) / 2, 0 where land cover is nodata), in footprint_id order.
select
    f.*,
    case
        when f.land_cover is null then 'No data'
        else coalesce(b.biome_name, 'Other')
    end as biome_name,
    coalesce((cos(2 * pi() * f.land_cover / 100) + 1) / 2, 0) as lc_cos,
    coalesce((sin(2 * pi() * f.land_cover / 100) + 1) / 2, 0) as lc_sin
from {{ ref('agbd_stg_footprints') }} as f
left join {{ ref('agbd_int_biomes') }} as b
    on f.land_cover = b.biome_code
-- a defined row order (the model also sorts by footprint_id before fitting)
order by f.footprint_id
