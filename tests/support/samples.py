"""Smaller copies of the shipped samples, in their published layout, for tests that need a whole run but not every
partition of it."""

import shutil
from pathlib import Path

from dagster_project import settings

# One board of each of the authors' HSI splits (train 1, val 18, test 2): a run still trains and scores a model,
# on three partitions instead of the sample's seven.
PCB_BOARDS = ("1", "18", "2")


def pcbvision_copy(dest: Path, boards: tuple[str, ...] = PCB_BOARDS) -> Path:
    """The PCB-Vision sample with only `boards`: every file of the other boards removed (HSI cube, General and
    Monoseg masks, PCB mask, RGB photo and masks)."""
    shutil.copytree(settings.SAMPLES_DIR / "pcbvision", dest)
    for path in sorted(dest.rglob("*"), reverse=True):
        board = path.stem.removeprefix("mono").removeprefix("pcb")
        if board.isdigit() and board not in boards:
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
    assert sorted(p.name for p in (dest / "HSI").glob("pcb*")) == sorted(f"pcb{b}" for b in boards)
    return dest
