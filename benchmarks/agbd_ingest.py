"""AGBD ingest at the release's scale: footprints/s and peak memory of the platform's tile reader next to the
authors' access pattern, measured in the same run, on inputs generated into a temp folder by the sample writer
(`sample.write_large_hdf5` / `sample.write_large_hf`, same formats as the real files, never committed).

Workloads (issue 17):
- HDF5: one Sentinel-2 tile of `--footprints` footprints (default 20,000; gzip, chunks of one footprint as the
  authors write them; S2/ALOS DNs jittered so chunks compress like real imagery, ~15 kB per footprint), and the
  same tile at a tenth of the footprints for the memory-scaling target.
- HF: one AGBD_raw shard of `--rows` rows (default 6,000, ~200 MB zstd: the release's shards hold ~6,000 rows in
  ~157 MB), and a shard of a tenth of the rows.

Readers:
- platform (hdf5 / hf): for every tile, `source.iter_tile` (all transforms, layout / schema validation, blocks of
  `layout.BLOCK` footprints) streamed by `assets.write_patch_table` into the tile's parquet file with the rules'
  per-block summaries -> `checks.patch_python_rules` -> `transforms.footprints_from_patch_file` (the footprint
  table from the file, a row group at a time), i.e. the work of the `agbd_patches` and `agbd_footprints` assets
  without Dagster and GX.
- authors (hdf5): the access pattern of `Models/dataset.py` `GEDIDataset.__getitem__`: footprint by footprint,
  h5py slices of every source, reflectance / gamma-naught transforms, centre values.
- rows (hf): the access pattern of the authors' HF instructions (`load_dataset(..., streaming=True)`, then
  `sample['input']` per row): row by row as Python lists -> numpy, centre values.

    .venv/bin/python -m benchmarks.agbd_ingest                          # full size (minutes)
    .venv/bin/python -m benchmarks.agbd_ingest --footprints 2000 --rows 600   # quick look

Each reader runs `--repeat` times in a fresh subprocess (peak RSS = VmHWM of that process), the baseline and the
platform alternating, and the medians (seconds, peak RSS) are kept: the machine is shared, alternating puts both
under the same load. Peak-RSS ratios do not depend on the load; throughput ratios do.
Targets are reported with `harness.record_target`; see the note of each for what limits it.

Measured 2026-11-30 on the shared 2-core dev machine under a load average of 12-14 (other engineers' tests;
absolute rates are low, the ratios are from the same run), default sizes, `--repeat 1`:

| input | platform | baseline | throughput | peak RSS |
|---|---|---|---|---|
| HDF5 tile, 2,000 fp, 30 MB | 129 fp/s, 535 MB | authors' loop 28 fp/s, 252 MB | x4.62 | x2.12 |
| HDF5 tile, 20,000 fp, 300 MB | 166 fp/s, 2,199 MB | authors' loop 34 fp/s, 258 MB | x4.81 (PASS >= 1.0) | x8.54 |
| HF shard, 600 rows, 20 MB | 98 fp/s, 406 MB | per-row loop 53 fp/s, 413 MB | x1.84 | x0.98 |
| HF shard, 6,000 rows, 202 MB | 306 fp/s, 532 MB | per-row loop 71 fp/s, 597 MB | x4.31 (PASS >= 1.0) | x0.89 |

Memory at 10x the footprints: HDF5 535 -> 2,199 MB (x4.11, FAIL <= 1.2), HF 406 -> 532 MB (x1.31, FAIL). Not a
physical limit: a tile is the partition, and its patch table (25x25 float32 arrays, ~48 kB per footprint, plus the
parquet writer's and the footprint summary's copies in this one process) is one frame in memory. Memory is flat in
the number of tiles (one tile at a time), not in the size of the largest tile. Making it flat needs the patch
table of a tile written in row groups of footprint blocks instead of returned as one frame (not done). The gzip
chunks of 1 cost both readers the same decompression; the authors' loop pays ~25 h5py calls per footprint on top.
"""

import statistics
import tempfile
from pathlib import Path

from benchmarks import harness


def _platform(src: str, out: str) -> int:
    """The work of the `agbd_patches` and `agbd_footprints` assets without Dagster and GX: every tile streamed in
    blocks into its parquet file with the rules' summaries, the plain-Python rules, then the footprint table read
    back from the file a row group at a time."""
    import fsspec

    from dagster_project.datasets.agbd import assets, checks, source, transforms
    from dagster_project.storage import Lake

    fs = fsspec.filesystem("file")
    lake = Lake(root=out)
    index = source.tile_index(fs, src)
    n = 0
    for tile in sorted(index["tile"].unique()):
        rel = assets.patch_table_relpath(tile)
        blocks = source.iter_tile(fs, src, tile, source.tile_sources(index, tile))
        summary = assets.write_patch_table(lake, rel, blocks)
        checks.patch_python_rules(summary)
        n += transforms.footprints_from_patch_file(lake.fs, lake.path(rel)).height
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
                    boa = int(g["Sentinel_metadata"]["S2_boa_offset"][idx])
                    sr = (s2 - boa * 1000) / 10000
                    sr[s2 == 0] = 0
                    sr[sr < 0] = 0
                    alos = g["ALOS_bands"][idx].astype(np.float32)
                    with np.errstate(divide="ignore"):
                        alos = np.where(alos == 0, -9999.0, 10 * np.log10(alos**2) - 83.0)
                    ch, ch_std = g["CH"]["ch"][idx], g["CH"]["std"][idx]
                    lc, dem = g["LC"][idx], g["DEM"][idx]
                    s2_date, gedi_date = g["Sentinel_metadata"]["S2_date"][idx], g["GEDI"]["date"][idx]
                    lat = g["GEDI"]["lat_offset"][idx] + g["GEDI"]["lat_decimal"][idx]
                    lon = g["GEDI"]["lon_offset"][idx] + g["GEDI"]["lon_decimal"][idx]
                    agbd = g["GEDI"]["agbd"][idx]
                    px, py = np.gradient(dem, 10)
                    _ = (
                        sr[c, c],
                        alos[c, c],
                        ch[c, c],
                        ch_std[c, c],
                        lc[c, c],
                        dem[c, c],
                        px[c, c],
                        py[c, c],
                    )
                    _ = (s2_date, gedi_date, lat, lon, agbd)
                    n += 1
    return n


def _rows_hf(src: str) -> int:
    import numpy as np
    import pyarrow.parquet as pq

    n = 0
    for shard in sorted(Path(src, "data").glob("*.parquet")):
        for batch in pq.ParquetFile(shard).iter_batches(batch_size=100):
            for row in batch.to_pylist():
                x = np.asarray(row["input"], dtype=np.float32)
                _ = (x[:, 12, 12], row["label"], row["metadata"]["lat"], row["metadata"]["lon"])
                n += 1
    return n


READERS = {"platform-hdf5": None, "platform-hf": None, "authors": _authors_hdf5, "rows": _rows_hf}


def _worker(mode: str, src: str) -> dict:
    import h5py  # noqa: F401  (imported before measuring by every reader: the assets have them loaded)
    import polars  # noqa: F401
    import pyarrow.parquet  # noqa: F401

    from dagster_project.datasets.agbd import assets, checks, source, transforms  # noqa: F401
    from dagster_project.storage import Lake  # noqa: F401

    def work() -> dict:
        with tempfile.TemporaryDirectory(prefix="agbd-bench-out-") as out:
            if mode.startswith("platform"):
                return {"footprints": _platform(src, out)}
            return {"footprints": READERS[mode](src)}

    return harness.timed(mode, work)


def _interleaved(pair: tuple[str, str], src: Path, repeat: int) -> dict[str, dict]:
    """`repeat` runs of each reader of `pair`, alternating (baseline, ours, baseline, ...), each in a fresh
    process; per reader the median seconds and the median peak RSS. The machine is shared: alternating exposes
    both readers to the same load, and the median is robust to one disturbed run either way."""
    runs: dict[str, list[dict]] = {mode: [] for mode in pair}
    for _ in range(repeat):
        for mode in pair:
            runs[mode].append(harness.best_of("benchmarks.agbd_ingest", [mode, str(src)], 1))
    out = {}
    for mode, rs in runs.items():
        out[mode] = {
            **rs[0],
            "seconds": statistics.median(r["seconds"] for r in rs),
            "peak_rss_mb": statistics.median(r["peak_rss_mb"] for r in rs),
            "rss_imports_mb": statistics.median(r["rss_imports_mb"] for r in rs),
            "runs": len(rs),
        }
    return out


def _fmt_rate(r: dict) -> str:
    return f"{r['footprints'] / r['seconds']:,.0f} fp/s, {r['peak_rss_mb']:,.0f} MB"


def main() -> None:
    parser = harness.argument_parser(__doc__, ("MODE", "SRC"))
    parser.add_argument("--footprints", type=int, default=20_000, help="footprints of the HDF5 tile")
    parser.add_argument("--rows", type=int, default=6_000, help="rows of the HF shard")
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs per reader and size, interleaved; the medians are kept"
    )
    args = parser.parse_args()
    if harness.worker_main(args, _worker):
        return

    from dagster_project.datasets.agbd import sample

    table = harness.Table(
        ("format", "<6"),
        ("footprints", ">10"),
        ("MB", ">7", ".1f"),
        ("reader", "<14"),
        ("footprints/s", ">12", ",.0f"),
        ("seconds", ">8", ".1f"),
        ("peak RSS MB", ">11", ".0f"),
        ("after imports", ">13", ".0f"),
    )
    print(table.header(), flush=True)
    results: dict[tuple[str, int, str], dict] = {}
    with tempfile.TemporaryDirectory(prefix="agbd-bench-src-") as tmp:
        plan = (
            ("hdf5", args.footprints, ("authors", "platform-hdf5"), sample.write_large_hdf5, "footprints"),
            ("hf", args.rows, ("rows", "platform-hf"), sample.write_large_hf, "rows"),
        )
        for fmt, full, pair, write, kw in plan:
            for size in (full // 10, full):
                src = Path(tmp) / f"{fmt}-{size}"
                write(src, **{kw: size})
                mb = sum(p.stat().st_size for p in src.rglob("*") if p.is_file()) / 1e6
                runs = _interleaved(pair, src, args.repeat)
                for mode in pair:
                    r = runs[mode]
                    r["mb"] = mb
                    results[(fmt, size, mode)] = r
                    print(
                        table.row(
                            fmt, r["footprints"], mb, mode, r["footprints"] / r["seconds"], r["seconds"],
                            r["peak_rss_mb"], r["rss_imports_mb"],
                        ),
                        flush=True,
                    )  # fmt: skip
                base, ours = results[(fmt, size, pair[0])], results[(fmt, size, pair[1])]
                assert base["footprints"] == ours["footprints"] == size, (base, ours)
                print(table.ratio(pair[0], ours, base, growth="mb"), flush=True)
                import shutil

                shutil.rmtree(src)

    _record(results, args.footprints, args.rows)


def _record(results: dict, footprints: int, rows: int) -> None:
    h_full, h_small = footprints, footprints // 10
    ours, base = results[("hdf5", h_full, "platform-hdf5")], results[("hdf5", h_full, "authors")]
    ratio = base["seconds"] / ours["seconds"]
    harness.record_target(
        "AGBD HDF5 tile (gzip, chunks of 1)",
        f"{h_full:,} footprints, {ours['mb']:.0f} MB",
        _fmt_rate(ours),
        f"authors' per-footprint loop {_fmt_rate(base)}",
        ratio,
        ours["peak_rss_mb"] / base["peak_rss_mb"],
        "throughput >= 1.0x the authors' per-footprint loop",
        ratio >= 1.0,
        "both decompress every gzip chunk of 1 footprint; the platform reads each dataset a block of footprints at "
        "a time (one h5py call per dataset and block, not per footprint), and also writes the patch table, checks "
        "it and reads it back for the footprint table",
    )
    small = results[("hdf5", h_small, "platform-hdf5")]
    growth = ours["peak_rss_mb"] / small["peak_rss_mb"]
    harness.record_target(
        "AGBD HDF5 tile memory",
        f"{h_small:,} -> {h_full:,} footprints in one tile (10x)",
        f"{small['peak_rss_mb']:,.0f} -> {ours['peak_rss_mb']:,.0f} MB",
        f"peak at 1x {small['peak_rss_mb']:,.0f} MB",
        None,
        growth,
        "peak RSS at 10x the footprints <= 1.2x the peak at 1x",
        growth <= 1.2,
        "a tile is read, checked and written in blocks of 1,024 footprints (~48 kB each as float32 25x25 arrays) "
        "and the footprint table is read back a row group at a time: what still grows with the tile is its "
        "scalar columns, rule summaries and footprint table (~1 kB per footprint)",
    )
    ours, base = results[("hf", rows, "platform-hf")], results[("hf", rows, "rows")]
    ratio = base["seconds"] / ours["seconds"]
    harness.record_target(
        "AGBD HF parquet shard",
        f"{rows:,} rows, {ours['mb']:.0f} MB",
        _fmt_rate(ours),
        f"per-row streaming loop {_fmt_rate(base)}",
        ratio,
        ours["peak_rss_mb"] / base["peak_rss_mb"],
        "throughput >= 1.0x the authors' per-row access",
        ratio >= 1.0,
        "the platform reads record batches of the tile's row groups and converts `input` to numpy in one call "
        "per batch",
    )
    small = results[("hf", rows // 10, "platform-hf")]
    growth = ours["peak_rss_mb"] / small["peak_rss_mb"]
    harness.record_target(
        "AGBD HF shard memory",
        f"{rows // 10:,} -> {rows:,} rows (10x)",
        f"{small['peak_rss_mb']:,.0f} -> {ours['peak_rss_mb']:,.0f} MB",
        f"peak at 1x {small['peak_rss_mb']:,.0f} MB",
        None,
        growth,
        "peak RSS at 10x the footprints <= 1.2x the peak at 1x",
        growth <= 1.2,
        "rows are converted per record batch and gathered into blocks of <= 1,024 per tile; with 8 tiles per shard "
        "a tile is ~75 rows at 1x and ~750 at 10x, so the 10x blocks are larger (the 1x run never fills one): "
        "that, not the shard size, is the growth",
    )


if __name__ == "__main__":
    main()
