"""AGBD ingest: footprints/s and peak memory of the platform's tile-by-tile reader, next to a baseline measured in
the same run, on the sample and on a 10x generated sample (10x the tiles, same footprints per tile).

- platform (hdf5 / hf): for every tile, `source.read_tile` (all transforms, validation of the group layout or the
  shard schema) -> patch table written to parquet -> `footprints_from_patches`, i.e. the work of the
  `agbd_patches` and `agbd_footprints` assets without Dagster and GX. Only one tile is in memory at a time.
- authors (hdf5): the access pattern of the authors' loader (`Models/dataset.py`, `GEDIDataset.__getitem__`):
  footprint by footprint, h5py slices of every source, reflectance / gamma-naught transforms, centre values.
- whole-table (hf): `pyarrow.parquet.read_table` of each shard and one conversion of the whole `input` column to
  numpy, the simple way to load AGBD_raw shards (memory grows with the shard, not with the tile).

    .venv/bin/python -m benchmarks.agbd_ingest               # sample (scale 1) and 10x sample (scale 10)
    .venv/bin/python -m benchmarks.agbd_ingest --scales 1 20

Each reader runs `--repeat` times per size in a fresh subprocess, so its peak RSS (VmHWM) is its own; the fastest
run is shown, with the RSS right after imports so the growth due to the work is visible.

Measured 2026-11-29 on the shared 2-core dev machine (`--repeat 2`; footprints/s, peak RSS):

| source | format | platform | baseline |
|---|---|---|---|
| sample (8 tiles, 288 fp) | hdf5 | 1,263/s, 291 MB | authors' per-footprint loop 1,270/s, 248 MB |
| 10x sample (80 tiles, 2,880 fp) | hdf5 | 1,099/s, 293 MB | 1,128/s, 252 MB |
| sample | hf | 528/s, 393 MB | whole-table read 686/s, 391 MB |
| 10x sample | hf | 956/s, 422 MB | 2,737/s, 729 MB |

The platform's peak memory stays flat as tiles grow 10x (HDF5 +2 MB, HF +29 MB) while reading whole shards
grows with the shard (+338 MB); its throughput includes building and writing the patch table, which the
baselines skip.
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


def _platform(src: str, out: str) -> int:
    import fsspec

    from dagster_project.datasets.agbd import source

    fs = fsspec.filesystem("file")
    index = source.tile_index(fs, src)
    n = 0
    for tile in sorted(index["tile"].unique()):
        patches = source.read_tile(fs, src, tile, source.tile_sources(index, tile))
        patches.write_parquet(Path(out, f"{tile}.parquet"))
        n += source.footprints_from_patches(patches).height
        del patches
    return n


def _authors_hdf5(src: str) -> int:
    import h5py
    import numpy as np

    n = 0
    c = 12
    for path in sorted(Path(src).glob("data_subset-*.h5")):
        with h5py.File(path, "r") as f:
            for tile in f:
                g = f[tile]
                for idx in range(len(g["GEDI"]["agbd"])):
                    s2 = g["S2_bands"][idx].astype(np.float32)
                    boa = float(g["Sentinel_metadata"]["S2_boa_offset"][idx])
                    sr = (s2 - boa * 1000) / 10000
                    sr[s2 == 0] = 0
                    sr[sr < 0] = 0
                    alos = g["ALOS_bands"][idx].astype(np.float32)
                    with np.errstate(divide="ignore"):
                        alos = np.where(alos == 0, -9999.0, 10 * np.log10(alos**2) - 83.0)
                    ch, ch_std = g["CH"]["ch"][idx], g["CH"]["std"][idx]
                    lc, dem = g["LC"][idx], g["DEM"][idx]
                    lat = g["GEDI"]["lat_offset"][idx] + g["GEDI"]["lat_decimal"][idx]
                    lon = g["GEDI"]["lon_offset"][idx] + g["GEDI"]["lon_decimal"][idx]
                    agbd = g["GEDI"]["agbd"][idx]
                    _ = (sr[c, c], alos[c, c], ch[c, c], ch_std[c, c], lc[c, c], dem[c, c], lat, lon, agbd)
                    n += 1
    return n


def _whole_table_hf(src: str) -> int:
    import numpy as np
    import pyarrow.parquet as pq

    n = 0
    for shard in sorted(Path(src, "data").glob("*.parquet")):
        table = pq.read_table(shard)
        col = table.column("input").combine_chunks().flatten().flatten().flatten()
        x = np.asarray(col).reshape(table.num_rows, 32, 25, 25)
        n += int((x[:, 3, 12, 12] >= 0).sum() + (x[:, 3, 12, 12] < 0).sum())
        del table, col, x
    return n


def _worker(mode: str, src: str) -> dict:
    import polars  # noqa: F401  (imported before measuring, as the assets have it loaded)

    from dagster_project.datasets.agbd import source  # noqa: F401

    rss_imports = _rss_mb()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="agbd-bench-out-") as out:
        if mode.startswith("platform"):
            n = _platform(src, out)
        elif mode == "authors":
            n = _authors_hdf5(src)
        else:
            n = _whole_table_hf(src)
    return {"mode": mode, "footprints": n, "seconds": time.perf_counter() - t0, "rss_imports_mb": rss_imports,
            "peak_rss_mb": _rss_mb()}  # fmt: skip


def _measure(mode: str, src: Path, repeat: int) -> dict:
    runs = []
    for _ in range(repeat):
        proc = subprocess.run(
            [sys.executable, "-m", "benchmarks.agbd_ingest", "--worker", mode, str(src)],
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

    from dagster_project.datasets.agbd.sample import write_sample

    labels = {1: "sample", 10: "10x sample"}
    print(
        f"{'source':<11} {'format':<6} {'tiles':>5} {'MB':>5} {'reader':<14} {'footprints':>10} "
        f"{'footprints/s':>12} {'peak RSS MB':>11} {'after imports':>13}"
    )
    with tempfile.TemporaryDirectory(prefix="agbd-bench-src-") as tmp:
        for scale in args.scales:
            src = Path(tmp) / f"scale{scale}"
            write_sample(src, scale=scale)
            tiles = 8 * scale
            for fmt, root, pair in (
                ("hdf5", src, ("authors", "platform-hdf5")),
                ("hf", src / "hf", ("whole-table", "platform-hf")),
            ):
                files = [p for p in root.rglob("*") if p.is_file() and (fmt == "hdf5") != ("hf" in p.parts)]
                mb = sum(p.stat().st_size for p in files) / 1e6
                res = {m: _measure(m, root, args.repeat) for m in pair}
                for m, r in res.items():
                    print(
                        f"{labels.get(scale, f'scale {scale}'):<11} {fmt:<6} {tiles:>5} {mb:>5.1f} {m:<14} "
                        f"{r['footprints']:>10} {r['footprints'] / r['seconds']:>12,.0f} {r['peak_rss_mb']:>11.0f} "
                        f"{r['rss_imports_mb']:>13.0f}"
                    )
                base, ours = res[pair[0]], res[pair[1]]
                assert base["footprints"] == ours["footprints"], (base, ours)
                print(
                    f"{'':<11} ratio platform / {pair[0]}: throughput x{base['seconds'] / ours['seconds']:.2f}, "
                    f"peak RSS x{ours['peak_rss_mb'] / base['peak_rss_mb']:.2f}, RSS growth "
                    f"{ours['peak_rss_mb'] - ours['rss_imports_mb']:.0f} MB vs "
                    f"{base['peak_rss_mb'] - base['rss_imports_mb']:.0f} MB"
                )


if __name__ == "__main__":
    main()
