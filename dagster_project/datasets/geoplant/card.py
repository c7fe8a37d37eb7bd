"""GeoPlant / GLC24's dataset card: what the dataset is as published and what this platform's reader accepts
(the shared factory in `dagster_project/dataset_cards.py` adds what each run ingested and validated). Facts from
`/work/shared/research/datasets.md` and `plantnet/malpolon` at commit c486e69."""

from dagster_project.dataset_cards import DatasetCard, Pitfall

_MALPOLON = "plantnet/malpolon@c486e69 malpolon/data/datasets/geolifeclef2024_pre_extracted.py"

CARD = DatasetCard(
    pretty_name="GeoPlant / GeoLifeCLEF 2024: Spatial Plant Species Prediction Dataset",
    license_published="MIT",
    license_note="`plantnet/GeoPlant` LICENSE is MIT and its docs (`docs/license.md`) say the dataset and code "
    "are released under the MIT License; the Kaggle competition's data licence was not found.",
    task_categories=("tabular-classification", "image-classification"),
    published_records=5_173_500,
    records_what="records (93,703 presence-absence surveys + 5,079,797 presence-only occurrences)",
    source_urls=(
        "https://www.kaggle.com/competitions/geolifeclef-2024",
        "https://lab.plantnet.org/seafile/d/bdb829337aa44a9489f6",
        "https://lab.plantnet.org/seafile/d/59325675470447b38add/",
        "https://github.com/plantnet/GeoPlant",
    ),
    paper="https://arxiv.org/abs/2408.13928",
    citation="""@inproceedings{picek2024geoplant,
  title     = {{GeoPlant}: Spatial Plant Species Prediction Dataset},
  author    = {Picek, Lukas and Botella, Christophe and Servajean, Maximilien and Leblanc, C{\\'e}sar and
               Palard, R{\\'e}mi and Larcher, Th{\\'e}o and Deneu, Benjamin and Marcos, Diego and Bonnet, Pierre and
               Joly, Alexis},
  booktitle = {Advances in Neural Information Processing Systems, Datasets and Benchmarks Track},
  year      = {2024},
  eprint    = {2408.13928},
  archivePrefix = {arXiv}
}""",
    formats=(
        "Kaggle GLC24 layout: `GLC24_PA_metadata_{train,test}.csv`, `GLC24_P0_metadata_train.csv` (digit zero; the "
        "Seafile spelling `GLC24_PO_...` is accepted too), environmental CSVs under the doubly nested "
        "`EnvironmentalRasters/EnvironmentalRasters/`, Landsat CSVs `PA-{split}-landsat_time_series/...` (`;`, "
        "missing values `eos`), Sentinel-2 RGB and NIR JPEG patches at `<id[-2:]>/<id[-4:-2]>/<id>.jpeg`.",
        "The GeoPlant re-release's `disctrict` column (misspelt) is read as `district`.",
        "From a folder, `s3://`, the Kaggle competition API (`kaggle`, needs KAGGLE_USERNAME / KAGGLE_KEY) or a "
        "Seafile share URL (metadata and CSVs; Seafile publishes patches only as zip archives).",
    ),
    optional_files=(
        "Landsat CSVs: a band that is not published (HTTP 404) is skipped and its features are absent.",
        "Sentinel-2 patches: downloaded only when `download_patches` is set and the host serves them one by one.",
        "`GLC24_SAMPLE_SUBMISSION.csv`: copied when present, not needed by the readers.",
    ),
    split="Official split: presence-absence train / test, made by the organisers as a 95 % / 5 % spatial block "
    "hold-out on a 10 x 10 km grid; the Kaggle PA test surveys have no labels, so the platform writes a "
    "Kaggle-format submission for them. There is no official validation split: models are scored on an "
    "internal hold-out of whole 10 km blocks of the PA train surveys (dbt `geoplant_training_set`, "
    "`geoplant_holdout_percent`), not on the Kaggle test set.",
    pitfalls=(
        Pitfall(
            "Duplicate surveyIds are dropped before the species are grouped, so each survey keeps one species "
            "as its label.",
            f'{_MALPOLON}:195 self.metadata = self.metadata.drop_duplicates(subset="surveyId")',
            "`source.group_surveys` aggregates every species of a survey first (sorted, unique).",
        ),
        Pitfall(
            "The presence-only file name differs between hosts (`P0` with a digit zero on Kaggle, `PO` on Seafile).",
            "GLC24 Kaggle bundle vs plantnet/GeoLifeCLEF download.py",
            "Both names are accepted (`source.PO_FILES`).",
        ),
        Pitfall(
            "The district column is misspelt `disctrict` in the GeoPlant metadata.",
            'plantnet/GeoPlant baselines/XGBoost geoplant_xgb/config.py alias {"disctrict": "district"}',
            "The reader maps it (`source.COLUMN_ALIASES`), so both releases give the same table.",
        ),
    ),
    language=(),
    tags=("biodiversity", "species-distribution", "sentinel-2"),
)
