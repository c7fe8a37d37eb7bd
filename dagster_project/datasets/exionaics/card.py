"""ExioNAICS' dataset card: what the dataset is as published and what this platform's reader accepts (the shared
factory in `dagster_project/dataset_cards.py` adds what each run ingested and validated). Facts from
`/work/shared/research/datasets.md` (HF card of `Yvnminc/ExioNAICS`, arXiv 2502.06874)."""

from dagster_project.dataset_cards import DatasetCard, Pitfall

CARD = DatasetCard(
    pretty_name="ExioNAICS: Enterprises Level Emission Estimation Dataset",
    license_published="apache-2.0",
    license_note="`license: apache-2.0` in the Hugging Face card of Yvnminc/ExioNAICS.",
    task_categories=("text-classification", "text-retrieval"),
    published_records=20_850,
    records_what="company descriptions (1,114 NAICS-6 classes; 166 ExioML carbon-intensity factors)",
    source_urls=(
        "https://huggingface.co/datasets/Yvnminc/ExioNAICS",
        "https://github.com/Yvnminc/ExioML",
    ),
    paper="https://arxiv.org/abs/2502.06874",
    citation="""@misc{guo2025green,
  title  = {Group Reasoning Emission Estimation Networks},
  author = {Guo, Y. and Xiao, Q. and Credit, K. and Ma, J.},
  year   = {2025},
  eprint = {2502.06874},
  archivePrefix = {arXiv}
}""",
    formats=(
        "CSV or parquet, every known column variant: the HF parquet conversion (`2022 NAICS Code`, `2022 NAICS "
        "Title`) and the local CSV export (`NAICS Code`, `NAICS_2 Code`, emissions, value added, employment), "
        "mapped once in `source.COMPANY_COLUMNS`.",
        "ExioML sector factors (`ExioML_factors.csv`) beside the companies.",
        "From a folder, `s3://` or the Hugging Face HTTPS location; `CDP_EXIONAICS_FILES` names other files.",
    ),
    optional_files=(
        "Company columns other than name, description and NAICS code: a file without them loads, and the "
        "validation suite reports each missing column.",
    ),
    split="No official split was published. The dbt mart `exionaics_training_set` makes a deterministic "
    "stratified split: within each NAICS-6 class, companies ordered by md5(company_name); the first 15 % go to "
    "test, the next 15 % to validation, the rest to train; classes with fewer than 3 companies stay in train.",
    pitfalls=(
        Pitfall(
            "The Hub metadata gives `size_categories: 100M<n<1B` for 20,850 rows.",
            "huggingface.co/datasets/Yvnminc/ExioNAICS README.md front matter",
            "This card computes `size_categories` from the published row count.",
        ),
        Pitfall(
            "NAICS codes arrive as numbers in some copies, losing leading zeros and mixing widths.",
            "third-party loaders zero-pad codes to 6 digits by hand",
            "`source.normalise_naics` pads every code to 6 digits before validation.",
        ),
    ),
    language=("en",),
    tags=("emissions", "naics", "scope-3"),
)
