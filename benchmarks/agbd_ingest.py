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

import tempfile
from pathlib import Path

from benchmarks import harness


def _platform(src: str, out: str) -> int:
    import fsspec

    from dagster_project.datasets.agbd import source, transforms

    fs = fsspec.filesystem("file")
    index = source.tile_index(fs, src)
    n = 0
    for tile in sorted(index["tile"].unique()):
        patches = source.read_tile(fs, src, tile, source.tile_sources(index, tile))
        patches.write_parquet(Path(out, f"{tile}.parquet"))
        n += transforms.footprints_from_patches(patches).height
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

    def work() -> dict:
        with tempfile.TemporaryDirectory(prefix="agbd-bench-out-") as out:
            if mode.startswith("platform"):
                return {"footprints": _platform(src, out)}
            if mode == "authors":
                return {"footprints": _authors_hdf5(src)}
            return {"footprints": _whole_table_hf(src)}

    return harness.timed(mode, work)


def main() -> None:
    parser = harness.argument_parser(__doc__, ("MODE", "SRC"))
    harness.add_scales_and_repeat(parser)
    args = parser.parse_args()
    if harness.worker_main(args, _worker):
        return

    from dagster_project.datasets.agbd.sample import write_sample

    table = harness.Table(
        ("source", "<11"),
        ("format", "<6"),
        ("tiles", ">5"),
        ("MB", ">5", ".1f"),
        ("reader", "<14"),
        ("footprints", ">10"),
        ("footprints/s", ">12", ",.0f"),
        ("peak RSS MB", ">11", ".0f"),
        ("after imports", ">13", ".0f"),
    )
    print(table.header())
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
                res = {
                    m: harness.best_of("benchmarks.agbd_ingest", [m, str(root)], args.repeat) for m in pair
                }
                for m, r in res.items():
                    print(
                        table.row(
                            harness.scale_label(scale), fmt, tiles, mb, m, r["footprints"],
                            r["footprints"] / r["seconds"], r["peak_rss_mb"], r["rss_imports_mb"],
                        )
                    )  # fmt: skip
                base, ours = res[pair[0]], res[pair[1]]
                assert base["footprints"] == ours["footprints"], (base, ours)
                print(table.ratio(pair[0], ours, base, growth="mb"))


if __name__ == "__main__":
    main()
