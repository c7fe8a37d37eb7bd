"""CloudTracks' dataset card: what the dataset is as published and what this platform's reader accepts (the
shared factory in `dagster_project/dataset_cards.py` adds what each run ingested and validated). Facts from
`/work/shared/research/datasets.md` and the first author's development code (`Ahmed14974/mmdetection`, branch
`aicc-bootcamp`, commit dff38d3)."""

from dagster_project.dataset_cards import NOT_FOUND, DatasetCard, Pitfall

_CODE = "Ahmed14974/mmdetection@dff38d3 (aicc-bootcamp)"

CARD = DatasetCard(
    pretty_name="CloudTracks: A Dataset for Localizing Ship Tracks in Satellite Images of Clouds",
    license_published=NOT_FOUND,
    license_note="no licence was found on Zenodo record 10042922, in the paper or in the authors' code. Check "
    "with the authors before redistributing.",
    task_categories=("image-segmentation", "object-detection"),
    published_records=3_560,
    records_what="MODIS satellite images (>12,000 ship-track instances)",
    source_urls=("https://zenodo.org/records/10042922",),
    paper="https://arxiv.org/abs/2401.14486",
    citation="""@misc{chaudhry2024cloudtracks,
  title  = {{CloudTracks}: A Dataset for Localizing Ship Tracks in Satellite Images of Clouds},
  author = {Chaudhry, M. A. and Kim, L. and Irvin, J. and Ido, Y. and Chu, S. and Isobe, J. T. and Ng, A. Y. and
            Watson-Parris, D.},
  year   = {2024},
  eprint = {2401.14486},
  archivePrefix = {arXiv}
}""",
    formats=(
        "The authors' development layout: `train.csv`, `val.csv`, `test.csv` (columns image, json, mask, "
        "contains_shiptrack; the older column names images_only, jsons_only, masks_updated are mapped), "
        "`<split>/images/<id>.png|.jpg`, LabelMe JSON `<split>/jsons/<id>.json`, `<split>/masks/<id>.npy`.",
        "Images RGB or grayscale; LabelMe `polygon` shapes as drawn, `linestrip` / `line` centre lines buffered "
        "by `buffer_px` (5 px) on each side.",
        "From a folder or `s3://`, or the Zenodo record (files API; archives md5-checked and unpacked).",
    ),
    optional_files=(
        "`<split>/masks/<id>.npy`: an empty `mask` cell means no shipped mask; masks are rasterised from the "
        "polygons, and a shipped mask must agree with them (IoU >= 0.9).",
    ),
    split="No official split was published with the paper; the authors' development code reads train / val / "
    "test CSVs, and this platform uses exactly the split CSVs found at the source (each image row carries its "
    "split). The classifier is fitted on train and scored on test.",
    pitfalls=(
        Pitfall(
            "The reported IoU averages only over test images that contain a ship track; images without tracks "
            "are skipped.",
            f"{_CODE} inference_pos_iou.py:40 if np.sum(mask) > 0:",
            "Both are reported: `iou_positive_images` (the paper's protocol) and `iou_all_images`.",
        ),
        Pitfall(
            "F1 is computed as P*R/(P+R), half the usual value.",
            f"{_CODE} inference_pos_iou_mc.py:249 (commented out at this commit) f1_score = "
            "float(precision * sensitivity) / float(precision + sensitivity)",
            "`f1` is 2PR/(P+R); the authors' formula is shown separately as `f1_dev_code_formula`.",
        ),
        Pitfall(
            "Masks are thin line buffers, so IoU depends strongly on the buffer width.",
            f'{_CODE} inference_pos_iou_mc.py ("buffed" variants, 11x11 dilation)',
            "The buffer width is one documented setting (`CloudTracksLayoutConfig.buffer_px`, 5 px as in the "
            "predecessor pipeline).",
        ),
    ),
    tags=("ship-tracks", "modis", "aerosol-cloud-interactions"),
)
