"""CloudTracks ingest: images/s and peak memory of the platform's reader, next to the authors' way of loading the
same files.

- platform: `source.read_layout` (split CSVs, LabelMe JSON parse and shape rules, full image decode, polyline
  buffering, clipping, rasterisation, shipped-mask comparison) plus the mask table of `cloudtracks_masks`
  (semantic + instance masks as PNG bytes), i.e. the work of the image/instance/mask assets without Dagster and
  GX (they cost a constant per run).
- authors: per split-CSV row, `json.load` the LabelMe file, `PIL.Image.open` + `np.asarray` the image and
  `np.load` the mask where one ships (as in their dev code), no validation and no rasterisation.

    .venv/bin/python -m benchmarks.cloudtracks_ingest               # sample (scale 1) and 10x sample (scale 10)
    .venv/bin/python -m benchmarks.cloudtracks_ingest --scales 1 40 # other sizes (scale multiplies images)

Each reader runs `--repeat` times per size in a fresh subprocess (so peak RSS, VmHWM, is its own); the fastest
run is shown, with the RSS right after imports so that the growth due to the work is visible. Files come from
`sample.write_sample(dest, scale=...)`.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _worker(mode: str, src: str) -> dict:
    import csv

    import fsspec
    import numpy as np
    import polars as pl
    from PIL import Image

    from dagster_project.datasets.cloudtracks import assets, pixels, source

    rss_imports = _rss_mb()
    t0 = time.perf_counter()
    if mode == "platform":
        images, instances = source.read_layout(fsspec.filesystem("file"), src)
        polys = assets.instance_polygons(instances)
        rows = []
        for r in images.iter_rows(named=True):
            semantic, instance = source.rasterise(polys.get(r["image_id"], []), r["height"], r["width"])
            if r["mask_file"]:
                semantic = (
                    source.read_mask(Path(src, r["mask_file"]).read_bytes(), r["mask_file"]) != 0
                ).astype(np.uint8)
            rows.append({"semantic": pixels.mask_to_png(semantic), "instance": pixels.mask_to_png(instance)})
        n, tracks = images.height, instances.height
        pl.DataFrame(rows)
    else:
        n, tracks = 0, 0
        for split in source.SPLITS:
            with open(Path(src, f"{split}.csv")) as f:
                for row in csv.DictReader(f):
                    with open(Path(src, row["json"])) as jf:
                        ann = json.load(jf)
                    image = np.asarray(Image.open(Path(src, row["image"])))
                    if row["mask"]:
                        mask = np.load(Path(src, row["mask"])).astype(np.uint8)
                        mask[mask != 0] = 1
                    assert image.shape[:2] == (ann["imageHeight"], ann["imageWidth"])
                    n += 1
                    tracks += len(ann["shapes"])
    seconds = time.perf_counter() - t0
    return {
        "mode": mode,
        "images": n,
        "tracks": tracks,
        "seconds": seconds,
        "rss_imports_mb": rss_imports,
        "peak_rss_mb": _rss_mb(),
    }


def _measure(mode: str, src: Path, repeat: int) -> dict:
    """Best of `repeat` fresh processes (the machine is shared, so the fastest run is the least disturbed)."""
    runs = []
    for _ in range(repeat):
        proc = subprocess.run(
            [sys.executable, "-m", "benchmarks.cloudtracks_ingest", "--worker", mode, str(src)],
            capture_output=True,
            text=True,
            check=True,
        )
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return min(runs, key=lambda r: r["seconds"])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scales", type=int, nargs="*", default=[1, 10])
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs per reader and size; the fastest is shown"
    )
    parser.add_argument("--worker", nargs=2, metavar=("MODE", "SRC"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(_worker(*args.worker)))
        return

    from dagster_project.datasets.cloudtracks.sample import write_sample

    labels = {1: "sample", 10: "10x sample"}
    print(
        f"{'source':<12} {'images':>6} {'MB':>6} {'reader':<9} {'tracks':>7} {'images/s':>9} "
        f"{'peak RSS MB':>12} {'after imports':>14}"
    )
    with tempfile.TemporaryDirectory(prefix="cloudtracks-bench-src-") as tmp:
        for scale in args.scales:
            src = Path(tmp) / f"scale{scale}"
            t0 = time.perf_counter()
            write_sample(src, scale=scale)
            gen_s = time.perf_counter() - t0
            mb = sum(p.stat().st_size for p in src.rglob("*") if p.is_file()) / 1e6
            results = {m: _measure(m, src, args.repeat) for m in ("authors", "platform")}
            for m, r in results.items():
                print(
                    f"{labels.get(scale, f'scale {scale}'):<12} {r['images']:>6} {mb:>6.1f} {m:<9} "
                    f"{r['tracks']:>7} {r['images'] / r['seconds']:>9,.1f} {r['peak_rss_mb']:>12.0f} "
                    f"{r['rss_imports_mb']:>14.0f}"
                )
            ours, base = results["platform"], results["authors"]
            assert ours["images"] == base["images"] and ours["tracks"] == base["tracks"]
            print(
                f"{'':<12} ratio platform / authors: throughput x{base['seconds'] / ours['seconds']:.2f}, "
                f"peak RSS x{ours['peak_rss_mb'] / base['peak_rss_mb']:.2f}, RSS growth "
                f"{ours['peak_rss_mb'] - ours['rss_imports_mb']:.0f} MB vs "
                f"{base['peak_rss_mb'] - base['rss_imports_mb']:.0f} MB (sample generated in {gen_s:.1f} s)"
            )


if __name__ == "__main__":
    main()
