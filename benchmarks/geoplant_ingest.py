"""GeoPlant presence-only ingest: throughput and peak memory of the platform's streamed, checked, year-partitioned
ingest (`geoplant_po_occurrences`) next to a plain `polars.scan_csv(...).sink_parquet(...)` of the same file.

    .venv/bin/python -m benchmarks.geoplant_ingest              # sample (5k rows), 10x sample, 5M rows
    .venv/bin/python -m benchmarks.geoplant_ingest --rows 500000 # one custom size

Each measurement runs in a fresh subprocess so that its peak RSS (ru_maxrss) is its own; the RSS of the same
process right after the imports is printed too, so the growth due to the work itself is visible. The files are
generated with `sample.write_po_file` (same columns and value distributions as the shipped sample).

Measured 2026-11-29 on the shared 2-core dev machine (other jobs running, so +-30 %), 5M rows / 402 MB:
platform 568k rows/s, peak RSS 502 MB (229 MB of it is the imports); polars sink 999k rows/s, 561 MB.
Ratio platform / polars: throughput x0.57, peak RSS x0.89. The platform also checks every row (extent,
species id space, ids) and writes one zstd parquet file per year.
"""

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _rss_mb() -> float:
    """Peak resident memory of this process (VmHWM). Unlike ru_maxrss it starts afresh at exec, so the parent's
    memory (it generated the CSV) does not leak into the child's figure."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _worker(mode: str, csv: str, out: str) -> dict:
    import polars as pl

    from dagster_project.datasets.geoplant import assets, checks, source
    from dagster_project.storage import Lake

    rss_imports = _rss_mb()
    start = time.perf_counter()
    if mode == "platform":
        lake = Lake(root=out)
        rules = checks.po_stream_rules()
        rows = sum(assets.write_po_partitions(lake, source.iter_po_batches(lake.fs, csv), rules).values())
        assert all(r.result().passed for r in rules)
    else:
        pl.scan_csv(csv, schema_overrides=source.PO_TYPES).sink_parquet(f"{out}/po.parquet")
        rows = pl.scan_parquet(f"{out}/po.parquet").select(pl.len()).collect().item()
    elapsed = time.perf_counter() - start
    return {
        "mode": mode,
        "rows": rows,
        "seconds": elapsed,
        "rss_imports_mb": rss_imports,
        "peak_rss_mb": _rss_mb(),
    }


def _measure(mode: str, csv: Path) -> dict:
    with tempfile.TemporaryDirectory(prefix="geoplant-bench-") as out:
        proc = subprocess.run(
            [sys.executable, "-m", "benchmarks.geoplant_ingest", "--worker", mode, str(csv), out],
            capture_output=True,
            text=True,
            check=True,
        )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, nargs="*", default=[5_000, 50_000, 5_000_000])
    parser.add_argument("--worker", nargs=3, metavar=("MODE", "CSV", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(_worker(*args.worker)))
        return

    from dagster_project.datasets.geoplant.sample import write_po_file

    labels = {5_000: "sample", 50_000: "10x sample", 5_000_000: "5M rows (full PO size)"}
    print(
        f"{'file':<24} {'rows':>9} {'MB':>7} {'ingest':<9} {'rows/s':>11} {'peak RSS MB':>12} {'after imports':>14}"
    )
    with tempfile.TemporaryDirectory(prefix="geoplant-bench-csv-") as tmp:
        for n in args.rows:
            csv = Path(tmp) / f"GLC24_P0_metadata_train_{n}.csv"
            t0 = time.perf_counter()
            write_po_file(csv, n, seed=0)
            gen_s = time.perf_counter() - t0
            size_mb = csv.stat().st_size / 1e6
            results = {m: _measure(m, csv) for m in ("polars_sink", "platform")}
            for m, r in results.items():
                assert r["rows"] == n, r
                print(
                    f"{labels.get(n, str(n)):<24} {n:>9} {size_mb:>7.1f} {m:<9} {n / r['seconds']:>11,.0f} "
                    f"{r['peak_rss_mb']:>12.0f} {r['rss_imports_mb']:>14.0f}"
                )
            ours, base = results["platform"], results["polars_sink"]
            print(
                f"{'':<24} ratio platform / polars sink: throughput x{base['seconds'] / ours['seconds']:.2f}, "
                f"peak RSS x{ours['peak_rss_mb'] / base['peak_rss_mb']:.2f} "
                f"(file generated in {gen_s:.1f} s)"
            )
            csv.unlink()


if __name__ == "__main__":
    main()
