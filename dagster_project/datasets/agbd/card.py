"""AGBD's dataset card: what the dataset is as published and what this platform's reader accepts (the shared
factory in `dagster_project/dataset_cards.py` adds what each run ingested and validated). Facts from
`/work/shared/research/datasets.md` and `ghjuliasialelli/AGBD` at commit 2d3b441."""

from dagster_project.dataset_cards import DatasetCard, Pitfall

_CODE = "ghjuliasialelli/AGBD@2d3b441 Models/dataset.py"

CARD = DatasetCard(
    pretty_name="AGBD: A Global-scale Biomass Dataset",
    license_published="CC BY-NC 4.0",
    license_note="GitHub README 'License' section; the Hugging Face cards of prs-eth/AGBD, AGBD_15 and AGBD_raw "
    "declare cc-by-nc-4.0.",
    task_categories=("tabular-regression",),
    published_records=15_934_561,
    records_what="GEDI footprints (train 9,949,032 / validation 2,681,807 / test 3,303,722)",
    source_urls=(
        "https://huggingface.co/datasets/prs-eth/AGBD_raw",
        "https://huggingface.co/datasets/prs-eth/AGBD",
        "https://github.com/ghjuliasialelli/AGBD",
        "https://agbdataset.github.io/",
    ),
    paper="https://arxiv.org/abs/2406.04928",
    citation="""@article{sialelli2025agbd,
  title   = {{AGBD}: A Global-scale Biomass Dataset},
  author  = {Sialelli, Ghjulia and Peters, Torben and Wegner, Jan D. and Schindler, Konrad},
  journal = {ISPRS Annals of the Photogrammetry, Remote Sensing and Spatial Information Sciences},
  volume  = {X-G-2025},
  pages   = {829--838},
  year    = {2025},
  doi     = {10.5194/isprs-annals-X-G-2025-829-2025},
  eprint  = {2406.04928},
  archivePrefix = {arXiv}
}""",
    formats=(
        "Original HDF5 release: `data_subset-{year}-v4_{i}-20.h5`, one group per Sentinel-2 tile (S2_bands, "
        "S2_SCL, Sentinel_metadata/*, ALOS_bands, CH/ch, CH/std, LC, DEM, GEDI/*), with "
        "`biomes_splits_to_name.pkl` and `statistics_subset_2019-2020-v4_new.pkl`; read with h5py, tile by tile.",
        "Hugging Face `prs-eth/AGBD_raw` parquet shards `data/{train,validation,test}-*.parquet` (`input` "
        "float32 [C][H][W], `label`, `metadata` struct); the tile of each row comes from its lat/lon.",
        "Either format from a folder, `s3://` or the Hugging Face HTTPS location (`CDP_AGBD_SOURCE`); "
        "`CDP_AGBD_FILES` restricts the files. Both give the same patch table (25x25 patches, [C][H][W]).",
    ),
    optional_files=(
        "`Sentinel_metadata/S2_boa_offset` inside a tile group (older patch files): offset 0, as the authors' "
        "loader does.",
        "None of the HDF5 release's files may be left out except tiles: the split and statistics pickles are "
        "required (the statistics are copied as received; the GBDT here needs no normalisation).",
    ),
    split="Official split = the assignment of Sentinel-2 tiles to train / val / test in "
    "`biomes_splits_to_name.pkl` (HDF5 release) or the split in the shard name (HF: `validation` is read as "
    "`val`). Each tile is one partition of `agbd_tile_index`; the blocking check `agbd_split_coverage` fails a "
    "tile named by no split or several. The model is fitted on train (val for early stopping) and scored on test.",
    pitfalls=(
        Pitfall(
            "Latitude/longitude reconstruction loses the sign when the decimal part is exactly 0 "
            "(`np.sign(0) == 0` puts the footprint on the equator or prime meridian).",
            f"{_CODE}:526 lat = np.sign(lat_decimal) * (np.abs(lat_decimal) + lat_offset)",
            "`source.py` takes the sign from the tile's hemisphere / UTM zone when the decimal is 0.",
        ),
        Pitfall(
            "Surface reflectance: negative values are clamped to 0 and DN 0 also becomes 0, so nodata and "
            "dark pixels are indistinguishable.",
            f"{_CODE}:490-492 sr_bands = (s2_bands - s2_boa_offset * 1000) / 10000; sr_bands[sr_bands < 0] = 0",
            "Every reflectance <= 0 is NaN (nodata) in the patch table, so means skip it.",
        ),
        Pitfall(
            "ALOS nodata becomes -9999 inside the float array of dB values, so any statistic over the array must "
            "exclude it by hand.",
            f"{_CODE}:548 alos_bands = np.where(alos_bands == NODATAVALS['ALOS_bands'], -9999.0, 10 * np.log10(...) - 83.0)",
            "ALOS DN 0 is NaN; dB = 10*log10(DN^2) - 83 elsewhere.",
        ),
        Pitfall(
            "Hugging Face split `val` was renamed `validation` (AGBD changelog v1.1.1).",
            "prs-eth/AGBD changelog.md v1.1.1 (30.01.2025)",
            "Both names are read as `val` (`HF_SPLIT_NAMES`).",
        ),
    ),
    tags=("biomass", "remote-sensing", "gedi", "sentinel-2"),
)
