"""PCB-Vision's dataset card: what the dataset is as published and what this platform's reader accepts (the
shared factory in `dagster_project/dataset_cards.py` adds what each run ingested and validated). Facts from
`/work/shared/research/datasets.md` and `hifexplo/PCBVision` at commit 2935b5c."""

from dagster_project.dataset_cards import NOT_FOUND, DatasetCard, Pitfall

_CODE = "hifexplo/PCBVision@2935b5c"

CARD = DatasetCard(
    pretty_name="PCB-Vision: A Multiscene RGB-Hyperspectral Benchmark Dataset of Printed Circuit Boards",
    license_published=NOT_FOUND,
    license_note="no licence for the data was found on the Rodare or Zenodo records or in the repository; the "
    "code is Apache-2.0 (LICENSE) and the arXiv paper CC BY-NC-SA 4.0. Check with the authors before "
    "redistributing the data.",
    task_categories=("image-segmentation",),
    published_records=53,
    records_what="printed circuit boards (53 RGB images + 53 VNIR hyperspectral cubes, 224 bands)",
    source_urls=(
        "https://rodare.hzdr.de/record/2704",
        "https://zenodo.org/records/10617721",
        "https://github.com/hifexplo/PCBVision",
    ),
    paper="https://arxiv.org/abs/2401.06528",
    citation="""@misc{arbash2024pcbvision,
  title  = {{PCB-Vision}: A Multiscene {RGB}-Hyperspectral Benchmark Dataset of Printed Circuit Boards},
  author = {Arbash, Elias and Fuchs, Margret and Rasti, Behnood and Lorenz, Sandra and Ghamisi, Pedram and
            Gloaguen, Richard},
  year   = {2024},
  eprint = {2401.06528},
  archivePrefix = {arXiv},
  primaryClass  = {cs.CV}
}""",
    formats=(
        "The authors' layout (`dataset_functions.read_dataset`): `HSI/pcb{i}/pcb{i}.hdr` + data file (ENVI "
        "cube, 224 bands, BIP), `HSI/General_masks/{i}.HDR` + `{i}`, `HSI/Monoseg_masks/mono{i}.hdr` + "
        "`mono{i}`, `HSI/PCB_Masks/{i}.jpg`, `RGB/{i}.jpg`, `RGB/General/{i}.png`, `RGB/Monoseg/{i}.png`.",
        "Header extensions in either case (`.hdr` / `.HDR`); the data file is the header path without its "
        "4-character extension, as the authors' readers derive it.",
        "From a folder or `s3://` (cubes read memory-mapped or by ranged reads, a block of lines at a time), or "
        "the Rodare / Zenodo record (files API; archives md5-checked and unpacked).",
    ),
    optional_files=(
        "Boards are partitions: any subset of the 53 boards may be present (each board is read and validated "
        "on its own).",
    ),
    split="Official HSI split = the authors' fixed board lists in `HSI_patches_generation.ipynb` (train 18, "
    "val 3, test 30; boards 4 and 35 are in none and are labelled `none`). Every pixel row carries its board's "
    "split; the classifier is fitted on train boards and scored on every pixel of the test boards. The RGB "
    "split (`train_test_split(test_size=0.2, random_state=123)` twice, 33/9/11) is recorded per board in "
    "`pcbvision_rgb_images` but not used by the model.",
    pitfalls=(
        Pitfall(
            "Cohen's kappa comes out as a vector (one value per class) instead of one number.",
            f"{_CODE} dataset_functions.py:367 expected_accuracy = np.sum(true_positive_sum) * "
            "np.sum(confusion_matrix_sum, axis=1) / total_pixels**2",
            "The evaluation computes the scalar kappa from the whole confusion matrix.",
        ),
        Pitfall(
            "Masks of the horizontal-shift augmentation are interpolated bilinearly, which can create values "
            "that are no class.",
            f"{_CODE} dataset_functions.py:294 translated_mask = cv2.warpAffine(mask, M, (cols, rows))",
            "No mask is resampled here; the blocking checks require every mask value in {0,1,2,3}.",
        ),
        Pitfall(
            "`np.int` was removed in NumPy 1.24, so the authors' mask resizing fails on current NumPy.",
            f"{_CODE} RGB_functions.py:82 resized_mask = resized_mask.astype(np.int)",
            "Masks are read as uint8 and never cast through `np.int`.",
        ),
        Pitfall(
            "Boards 4 and 35 are in none of the three HSI split lists and silently drop out.",
            f"{_CODE} HSI_patches_generation.ipynb (train/val/test index lists)",
            "They are ingested and validated with split `none`, and counted in the metadata.",
        ),
    ),
    tags=("hyperspectral", "e-waste", "segmentation"),
)
