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

import json
import tempfile
import time
from pathlib import Path

from benchmarks import harness


def _worker(mode: str, src: str) -> dict:
    import csv

    import fsspec
    import numpy as np
    import polars as pl
    from PIL import Image

    from dagster_project.datasets.cloudtracks import assets, pixels, source

    def work() -> dict:
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
                rows.append(
                    {"semantic": pixels.mask_to_png(semantic), "instance": pixels.mask_to_png(instance)}
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


def main() -> None:
    parser = harness.argument_parser(__doc__, ("MODE", "SRC"))
    harness.add_scales_and_repeat(parser)
    args = parser.parse_args()
    if harness.worker_main(args, _worker):
        return

    from dagster_project.datasets.cloudtracks.sample import write_sample

    table = harness.Table(
        ("source", "<12"),
        ("images", ">6"),
        ("MB", ">6", ".1f"),
        ("reader", "<9"),
        ("tracks", ">7"),
        ("images/s", ">9", ",.1f"),
        ("peak RSS MB", ">12", ".0f"),
        ("after imports", ">14", ".0f"),
    )
    print(table.header())
    with tempfile.TemporaryDirectory(prefix="cloudtracks-bench-src-") as tmp:
        for scale in args.scales:
            src = Path(tmp) / f"scale{scale}"
            t0 = time.perf_counter()
            write_sample(src, scale=scale)
            gen_s = time.perf_counter() - t0
            mb = sum(p.stat().st_size for p in src.rglob("*") if p.is_file()) / 1e6
            results = {
                m: harness.best_of("benchmarks.cloudtracks_ingest", [m, str(src)], args.repeat)
                for m in ("authors", "platform")
            }
            for m, r in results.items():
                print(
                    table.row(
                        harness.scale_label(scale), r["images"], mb, m, r["tracks"],
                        r["images"] / r["seconds"], r["peak_rss_mb"], r["rss_imports_mb"],
                    )
                )  # fmt: skip
            ours, base = results["platform"], results["authors"]
            assert ours["images"] == base["images"] and ours["tracks"] == base["tracks"]
            print(table.ratio("authors", ours, base, growth="mb", note=f"sample generated in {gen_s:.1f} s"))


if __name__ == "__main__":
    main()
