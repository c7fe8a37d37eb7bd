"""PCB-Vision board ingest: pixels/s and peak memory of the platform's board reader (`source.read_board`:
header/size checks, cube read a block of lines at a time from a memory map, masks, PCB-mask JPEG, preprocessing,
value-rule scan, pixel table → parquet on the lake), next to the authors' way of reading the same boards with
`spectral` (`envi.open` + `BipFile.open_memmap`, whole-cube clip and band slice), flattened to the same table
and parquet file.

    .venv/bin/python -m benchmarks.pcbvision_ingest               # sample (scale 1) and 10x sample (scale 10)
    .venv/bin/python -m benchmarks.pcbvision_ingest --scales 1 40 # other sizes (scale multiplies cube lines)

Each reader runs `--repeat` times (default 5) per size; the fastest run is reported.

Each measurement runs in a fresh subprocess so its peak RSS (VmHWM) is its own; the RSS right after imports is
printed too, so the growth due to the work is visible. GX suites and Dagster overhead are not included (they
cost a constant per board). pixels/s counts reading + building the table; 'incl. write' adds the atomic parquet
write to a local lake (fsync-bound, so it varies most on a busy disk). Files come from `sample.write_sample(dest, scale=...)`.
"""

import tempfile
import time
from pathlib import Path

from benchmarks import harness


def _worker(mode: str, src: str, out: str) -> dict:
    import warnings

    import fsspec
    import numpy as np
    import PIL.Image  # noqa: F401 - both readers import their libraries before the clock starts
    import polars as pl
    from spectral.io import bipfile, envi

    from dagster_project.datasets.pcbvision import checks, source
    from dagster_project.storage import Lake

    fs = fsspec.filesystem("file")
    lake = Lake(root=out)
    boards = source.boards_in([str(p.relative_to(src)) for p in Path(src).rglob("*.hdr")])
    rss_imports = harness.peak_rss_mb()
    pixels, read_s, write_s = 0, 0.0, 0.0
    for board in boards:
        t0 = time.perf_counter()
        if mode == "platform":
            bp = source.read_board(fs, src, board)
            assert all(r.passed for r in checks.board_python_rules(bp))
            df = bp.pixels
        else:
            files = source.BoardFiles(board)
            hdr = f"{src}/{files.cube_hdr}"
            cube = np.asarray(bipfile.BipFile.open_memmap(envi.open(hdr, hdr[:-4])))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Title-Case keys in the General mask headers
                mhdr = f"{src}/{files.general_hdr}"
                mask = np.asarray(envi.open(mhdr, mhdr[:-4]).open_memmap()[:, :, 0])
            spectra = np.clip(cube[:, :, 10:], 0, 1).reshape(-1, cube.shape[2] - 10)
            df = pl.DataFrame(
                {
                    "board": np.full(len(spectra), board, np.int16),
                    "label": mask.ravel(),
                    "spectrum": pl.Series(spectra, dtype=pl.Array(pl.Float32, spectra.shape[1])),
                }
            )
        t1 = time.perf_counter()
        lake.write_parquet(df, f"tables/bench/{board}/data.parquet")  # atomic: temp file, fsync, rename
        write_s += time.perf_counter() - t1
        read_s += t1 - t0
        pixels += df.height
    return {
        "mode": mode,
        "pixels": pixels,
        "seconds": read_s,
        "write_seconds": write_s,
        "rss_imports_mb": rss_imports,
        "peak_rss_mb": harness.peak_rss_mb(),
    }


def main() -> None:
    parser = harness.argument_parser(__doc__, ("MODE", "SRC", "OUT"))
    harness.add_scales_and_repeat(parser)
    args = parser.parse_args()
    if harness.worker_main(args, _worker):
        return

    from dagster_project.datasets.pcbvision.sample import write_sample

    table = harness.Table(
        ("source", "<14"),
        ("boards", ">6"),
        ("cube MB", ">8", ".1f"),
        ("reader", "<9"),
        ("pixels", ">8"),
        ("pixels/s", ">10", ",.0f"),
        ("incl. write", ">11", ",.0f"),
        ("peak RSS MB", ">12", ".0f"),
        ("after imports", ">14", ".0f"),
    )
    print(table.header())
    with tempfile.TemporaryDirectory(prefix="pcbvision-bench-src-") as tmp:
        for scale in args.scales:
            src = Path(tmp) / f"scale{scale}"
            t0 = time.perf_counter()
            write_sample(src, scale=scale)
            gen_s = time.perf_counter() - t0
            cubes = [p for p in (src / "HSI").glob("pcb*/pcb*") if p.suffix == ""]
            cube_mb = sum(p.stat().st_size for p in cubes) / 1e6
            results = {
                m: harness.best_of(
                    "benchmarks.pcbvision_ingest", [m, str(src)], args.repeat, out_prefix="pcbvision-bench-"
                )
                for m in ("spectral", "platform")
            }
            for m, r in results.items():
                print(
                    table.row(
                        harness.scale_label(scale), len(cubes), cube_mb, m, r["pixels"],
                        r["pixels"] / r["seconds"], r["pixels"] / (r["seconds"] + r["write_seconds"]),
                        r["peak_rss_mb"], r["rss_imports_mb"],
                    )
                )  # fmt: skip
            ours, base = results["platform"], results["spectral"]
            assert ours["pixels"] == base["pixels"]
            print(
                table.ratio(
                    "spectral", ours, base, throughput="read throughput", growth="ratio",
                    note=f"sample generated in {gen_s:.1f} s",
                )
            )  # fmt: skip


if __name__ == "__main__":
    main()
