"""GeoPlant presence-only ingest: throughput and peak memory of the platform's streamed, checked, year-partitioned
ingest (`geoplant_po_occurrences`) next to a plain `polars.scan_csv(...).sink_parquet(...)` of the same file.

    .venv/bin/python -m benchmarks.geoplant_ingest              # sample (5k rows), 10x sample, 5M rows
    .venv/bin/python -m benchmarks.geoplant_ingest --rows 500000 # one custom size

The platform's ingest scans the CSV with polars and collects the year-partitioned parquet sink and the check
aggregates together (`pl.collect_all`): one streaming pass. The largest size measured is reported as the target row
(`harness.record_target`): throughput >= 0.8x and peak RSS <= 1.0x of the plain sink, at 5M rows.

Each measurement runs in a fresh subprocess with the same imports (the worker imports the platform's modules
before either ingest), so that its peak RSS is its own; the RSS right after the imports is printed too. Baseline
and ours run in `--repeat` interleaved rounds (order alternating); the ratios are the medians of the per-round
ratios, because load on the shared machine drifts between rounds far more than within one. The CPU-time ratio
(CPU seconds of the baseline / ours) is printed as well: what the throughput ratio tends to on an idle machine.
The files are generated with `sample.write_po_file` (same columns and value distributions as the shipped sample).

Where the memory goes (5M rows / 402 MB, one process each, growth over the 233 MB of imports): most of the
baseline's peak is polars' CSV read-ahead, 32 MB chunks, two per pipeline in flight plus as many queued (scan +
count alone: +289 MB; the plain sink: +328 MB). The partitioned sink (one open writer per year), the check
branch of `collect_all` and the `source_row` / `source_file` columns added ~+70-90 MB on top: x1.13-1.16 before.
The ingest now bounds the read-ahead to 1 MB chunks for its own pass (`source.po_read_ahead`), which takes the
platform to +117-155 MB; with the same 1 MB setting the plain sink would be +80 MB, so the platform's own extra
remains ~+40-70 MB (the partition writers' row groups and the check branch), well inside what the read-ahead gave.

Measured 2026-11-30 on the shared 2-core dev machine (load average 12-14), 5M rows, 3 interleaved rounds:
platform 644k rows/s, peak RSS 388 MB; polars sink 348k rows/s, 565 MB. Ratio platform / polars sink:
throughput x1.75 (rounds x2.52, x1.15, x1.75), peak RSS x0.69 (x0.71, x0.69, x0.67): both targets met. CPU time
x0.85 (the partitioned write's split of every morsel by year costs ~0.5 CPU-s of ~4.5): expect the wall-clock
ratio near that on an idle machine (under load the wall-clock ratio came out above the CPU one in every round; not
analysed further, plausibly the 32 MB chunks pipelining worse when starved of CPU). Earlier:
one streaming pass at polars' default read-ahead x0.82 throughput, x1.13 peak RSS; Python loop over pyarrow
batches x0.57, x0.89.
"""

import resource
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks import harness


def _worker(mode: str, csv: str, out: str) -> dict:
    import polars as pl

    from dagster_project.datasets.geoplant import assets, source
    from dagster_project.storage import Lake

    def work() -> dict:
        cpu0 = _cpu_seconds()
        if mode == "platform":
            by_year, results = assets.ingest_po(Lake(root=out), csv, "GLC24_P0_metadata_train.csv")
            assert all(r.passed for r in results)
            rows = sum(by_year.values())
        else:
            pl.scan_csv(csv, schema_overrides=source.PO_TYPES).sink_parquet(f"{out}/po.parquet")
            rows = pl.scan_parquet(f"{out}/po.parquet").select(pl.len()).collect().item()
        return {"rows": rows, "cpu_seconds": _cpu_seconds() - cpu0}

    return harness.timed(mode, work)


MODES = ("polars_sink", "platform")


def _cpu_seconds() -> float:
    """User + system CPU time of this process, all threads: the work done, whatever the load on the machine."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _median(values) -> float:
    return statistics.median(list(values))


def _rounds(csv: str, repeat: int) -> list[dict[str, dict]]:
    """`repeat` rounds, each measuring the baseline and ours once (each run a fresh process with the same
    imports); the order alternates between rounds so neither always runs right after the file was written."""
    rounds = []
    for i in range(repeat):
        modes = MODES if i % 2 == 0 else MODES[::-1]
        runs = {
            m: harness.best_of("benchmarks.geoplant_ingest", [m, csv], out_prefix="geoplant-bench-")
            for m in modes
        }
        rounds.append(runs)
    return rounds


def main() -> None:
    parser = harness.argument_parser(__doc__, ("MODE", "CSV", "OUT"))
    parser.add_argument("--rows", type=int, nargs="*", default=[5_000, 50_000, 5_000_000])
    parser.add_argument(
        "--repeat", type=int, default=3, help="interleaved rounds (baseline and ours) per size; medians shown"
    )
    args = parser.parse_args()
    if harness.worker_main(args, _worker):
        return

    from dagster_project.datasets.geoplant.sample import write_po_file

    labels = {5_000: "sample", 50_000: "10x sample", 5_000_000: "5M rows (full PO size)"}
    table = harness.Table(
        ("file", "<24"),
        ("rows", ">9"),
        ("MB", ">7", ".1f"),
        ("ingest", "<9"),
        ("rows/s", ">11", ",.0f"),
        ("peak RSS MB", ">12", ".0f"),
        ("after imports", ">14", ".0f"),
    )
    print(table.header())
    with tempfile.TemporaryDirectory(prefix="geoplant-bench-csv-") as tmp:
        for n in args.rows:
            csv = Path(tmp) / f"GLC24_P0_metadata_train_{n}.csv"
            t0 = time.perf_counter()
            write_po_file(csv, n, seed=0)
            gen_s = time.perf_counter() - t0
            size_mb = csv.stat().st_size / 1e6
            rounds = _rounds(str(csv), args.repeat)
            assert all(x[m]["rows"] == n for x in rounds for m in MODES), rounds
            for m in MODES:
                r = {
                    k: _median(x[m][k] for x in rounds) for k in ("seconds", "peak_rss_mb", "rss_imports_mb")
                }
                print(
                    table.row(
                        labels.get(n, str(n)),
                        n,
                        size_mb,
                        m,
                        n / r["seconds"],
                        r["peak_rss_mb"],
                        r["rss_imports_mb"],
                    )
                )
            # Paired ratios (ours / the baseline of the same round), then their median: load on the shared
            # machine drifts between rounds far more than within one.
            throughput = _median(x["polars_sink"]["seconds"] / x["platform"]["seconds"] for x in rounds)
            rss = _median(x["platform"]["peak_rss_mb"] / x["polars_sink"]["peak_rss_mb"] for x in rounds)
            # CPU seconds of the baseline / ours: what the throughput ratio tends to on an idle machine.
            cpu = _median(x["polars_sink"]["cpu_seconds"] / x["platform"]["cpu_seconds"] for x in rounds)
            print(
                f"{table.indent} ratio platform / polars sink: throughput x{throughput:.2f}, peak RSS x{rss:.2f}, "
                f"CPU-time throughput x{cpu:.2f} (median of {len(rounds)} interleaved rounds; per round: "
                + ", ".join(
                    f"x{x['polars_sink']['seconds'] / x['platform']['seconds']:.2f}"
                    f"/x{x['platform']['peak_rss_mb'] / x['polars_sink']['peak_rss_mb']:.2f}"
                    for x in rounds
                )
                + f"; file generated in {gen_s:.1f} s)"
            )
            csv.unlink()
            if n == max(args.rows):
                ours = {k: _median(x["platform"][k] for x in rounds) for k in ("seconds", "peak_rss_mb")}
                base = {k: _median(x["polars_sink"][k] for x in rounds) for k in ("seconds", "peak_rss_mb")}
                harness.record_target(
                    "GeoPlant PO ingest (checked, year-partitioned)",
                    labels.get(n, f"{n:,} rows"),
                    f"{n / ours['seconds'] / 1e6:.2f} M rows/s, {ours['peak_rss_mb']:.0f} MB",
                    f"polars sink {n / base['seconds'] / 1e6:.2f} M rows/s, {base['peak_rss_mb']:.0f} MB",
                    throughput,
                    rss,
                    "throughput >= 0.8x, peak RSS <= 1.0x (at 5M rows)",
                    throughput >= 0.8 and rss <= 1.0,
                    note="" if n >= 5_000_000 else "below the 5M-row target size",
                )


if __name__ == "__main__":
    main()
