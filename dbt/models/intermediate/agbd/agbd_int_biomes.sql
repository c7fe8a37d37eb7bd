-- REF_BIOMES of the authors' loader (Models/dataset.py): Copernicus Global Land Cover codes -> biome names.
select
    biome_code,
    biome_name,
    biome_code between 111 and 126 as is_forest
from (
    values
        (20, 'Shrubs'),
        (30, 'Herbaceous vegetation'),
        (40, 'Cultivated'),
        (90, 'Herbaceous wetland'),
        (111, 'Closed-ENL'),
        (112, 'Closed-EBL'),
        (114, 'Closed-DBL'),
        (115, 'Closed-mixed'),
        (116, 'Closed-other'),
        (121, 'Open-ENL'),
        (122, 'Open-EBL'),
        (124, 'Open-DBL'),
        (125, 'Open-mixed'),
        (126, 'Open-other')
) as ref_biomes (biome_code, biome_name)
