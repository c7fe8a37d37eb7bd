"""CloudTracks ingest: images/s and peak memory of the platform's reader, next to decoding the same files with no
checks (the authors' way of loading them).

- platform: `source.read_layout` (split CSVs, LabelMe JSON parse and shape rules, full image decode, polyline
  buffering, clipping, rasterisation, shipped-mask classification and comparison) plus the mask table of
  `cloudtracks_masks` (`source.image_masks`: semantic + instance masks as PNG bytes), i.e. the work of the
  image/instance/mask assets without Dagster and GX (they cost a constant per run).
- authors (the baseline): per split-CSV row, `json.load` the LabelMe file, `PIL.Image.open` + `np.asarray` the
  image and `np.load` + binarise the mask where one ships (as in their dev code), no validation and no
  rasterisation.

Workloads:
- the sample (128 x 128 px; `--scales`, scale multiplies the images);
- full-size MODIS granules (1354 x 2030 px, `--full N ...` images, default 20 and 200), written by the sample
  writer into a temp folder in the published format (RGB PNG, LabelMe JSON, `.npy` masks with instance ids).
  Scenes are rendered at 1/4 resolution and resized (with full-resolution noise), and 20 distinct scenes are
  reused across the images (each image has its own files); PNGs use zlib level 1 (rendering and compressing a
  granule takes seconds). The 20-image set is the first rows of each split of the 200-image set (hard links).
  Targets (issue 17): throughput >= 0.5x of the baseline at the largest size; peak RSS flat in the number of
  images (platform peak at the largest size <= 1.2x its peak at the smallest).

    .venv/bin/python -m benchmarks.cloudtracks_ingest                        # sample x1, x10; full 20, 200
    .venv/bin/python -m benchmarks.cloudtracks_ingest --scales 1 --full 4 8  # quick
    .venv/bin/python -m benchmarks.cloudtracks_ingest --full                 # sample only

Each reader runs `--repeat` times per sample size (`--full-repeat` per full size) in a fresh subprocess (so peak
RSS, VmHWM, is its own); the fastest run is shown, with the RSS right after imports so that the growth due to the
work is visible.
"""

import json
import os
import tempfile
import time
from pathlib import Path

from benchmarks import harness

FULL_SHAPE = (1354, 2030)  # MODIS 1 km granule, (height, width)
FULL_SPLIT_SHARE = {"train": 0.6, "val": 0.15, "test": 0.25}
UNIQUE_SCENES = 20


def _worker(mode: str, src: str) -> dict:
    import csv

    import fsspec
    import numpy as np
    import polars as pl
    from PIL import Image

    from dagster_project.datasets.cloudtracks import assets, pixels, source

    def work() -> dict:
        if mode == "platform":
            fs = fsspec.filesystem("file")
            images, instances = source.read_layout(fs, src)
            root = Path(source.layout_root(fs, src))
            polys = assets.instance_polygons(instances)
            rows = []
            for r in images.iter_rows(named=True):
                shipped = (
                    source.read_mask((root / r["mask_file"]).read_bytes(), r["mask_file"])
                    if r["mask_file"]
                    else None
                )
                semantic, instance, count, _ = source.image_masks(
                    polys.get(r["image_id"], []), r["height"], r["width"], shipped
                )
                rows.append(
                    {
                        "count": count,
                        "semantic": pixels.mask_to_png(semantic),
                        "instance": pixels.mask_to_png(instance),
                    }
                )
            pl.DataFrame(rows)
            return {"images": images.height, "tracks": instances.height}
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
        return {"images": n, "tracks": tracks}

    return harness.timed(mode, work)


def _split_counts(n: int) -> dict[str, int]:
    counts = {s: int(round(n * share)) for s, share in FULL_SPLIT_SHARE.items()}
    counts["train"] += n - sum(counts.values())
    return counts


def _subset(full: Path, dest: Path, n: int) -> None:
    """The first rows of each split of `full` (split sizes as `_split_counts(n)`), files hard-linked."""
    for split, k in _split_counts(n).items():
        lines = (full / f"{split}.csv").read_text().splitlines()
        kept = lines[1 : k + 1]
        for line in kept:
            for rel in line.split(",")[:3]:
                if rel:
                    (dest / rel).parent.mkdir(parents=True, exist_ok=True)
                    os.link(full / rel, dest / rel)
        (dest / f"{split}.csv").write_text("\n".join([lines[0], *kept]) + "\n")


def main() -> None:
    parser = harness.argument_parser(__doc__, ("MODE", "SRC"))
    harness.add_scales_and_repeat(parser)
    parser.add_argument("--full", type=int, nargs="*", default=[20, 200], help="full-size granule counts")
    parser.add_argument("--full-repeat", type=int, default=1, help="runs per reader and full size")
    args = parser.parse_args()
    if harness.worker_main(args, _worker):
        return

    from dagster_project.datasets.cloudtracks.sample import write_sample

    table = harness.Table(
        ("source", "<16"),
        ("images", ">6"),
        ("MB", ">7", ".1f"),
        ("reader", "<9"),
        ("tracks", ">7"),
        ("images/s", ">9", ",.2f"),
        ("peak RSS MB", ">12", ".0f"),
        ("after imports", ">14", ".0f"),
    )

    def measure(label: str, src: Path, repeat: int, note: str) -> dict[str, dict]:
        mb = sum(p.stat().st_size for p in src.rglob("*") if p.is_file()) / 1e6
        results = {
            m: harness.best_of("benchmarks.cloudtracks_ingest", [m, str(src)], repeat)
            for m in ("authors", "platform")
        }
        for m, r in results.items():
            print(
                table.row(
                    label, r["images"], mb, m, r["tracks"],
                    r["images"] / r["seconds"], r["peak_rss_mb"], r["rss_imports_mb"],
                )
            )  # fmt: skip
        ours, base = results["platform"], results["authors"]
        assert ours["images"] == base["images"] and ours["tracks"] == base["tracks"]
        print(table.ratio("authors", ours, base, growth="mb", note=note), flush=True)
        return results

    print(table.header())
    with tempfile.TemporaryDirectory(prefix="cloudtracks-bench-src-") as tmp:
        for scale in args.scales:
            src = Path(tmp) / f"scale{scale}"
            t0 = time.perf_counter()
            write_sample(src, scale=scale)
            measure(
                harness.scale_label(scale),
                src,
                args.repeat,
                f"sample generated in {time.perf_counter() - t0:.1f} s",
            )
        if not args.full:
            return
        sizes = sorted(set(args.full))
        full = Path(tmp) / f"full{sizes[-1]}"
        t0 = time.perf_counter()
        write_sample(
            full,
            shape=FULL_SHAPE,
            counts=_split_counts(sizes[-1]),
            unique_scenes=UNIQUE_SCENES,
            instance_masks=True,
            compress_level=1,
            render_scale=4,
        )
        gen = f"{sizes[-1]} granules generated in {time.perf_counter() - t0:.0f} s"
        runs = {}
        for n in sizes:
            src = full
            if n != sizes[-1]:
                src = Path(tmp) / f"full{n}"
                _subset(full, src, n)
            runs[n] = measure(f"{FULL_SHAPE[0]}x{FULL_SHAPE[1]}", src, args.full_repeat, gen)
    big, small = runs[sizes[-1]], runs[sizes[0]]
    ours, base = big["platform"], big["authors"]
    ratio = base["seconds"] / ours["seconds"]
    harness.record_target(
        "cloudtracks full-size granules: throughput",
        f"{sizes[-1]} x {FULL_SHAPE[0]}x{FULL_SHAPE[1]} px",
        f"{ours['images'] / ours['seconds']:.2f} images/s",
        f"{base['images'] / base['seconds']:.2f} images/s (decode, no checks)",
        ratio,
        ours["peak_rss_mb"] / base["peak_rss_mb"],
        "throughput >= 0.5x of decoding with no checks",
        ratio >= 0.5,
    )
    if len(sizes) > 1:
        flat = big["platform"]["peak_rss_mb"] / small["platform"]["peak_rss_mb"]
        harness.record_target(
            "cloudtracks full-size granules: peak RSS vs images",
            f"{sizes[-1]} vs {sizes[0]} images",
            f"{big['platform']['peak_rss_mb']:.0f} MB at {sizes[-1]}",
            f"{small['platform']['peak_rss_mb']:.0f} MB at {sizes[0]}",
            None,
            flat,
            f"platform peak RSS at {sizes[-1]} images <= 1.2x at {sizes[0]} (flat)",
            flat <= 1.2,
        )


if __name__ == "__main__":
    main()
