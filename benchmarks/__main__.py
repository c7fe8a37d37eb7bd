"""`python -m benchmarks [NAME ...]` (or `make bench`): run the benchmarks one after another, each in its own
process, so that one's memory does not count against the next. Every benchmark prints its figures as ratios
against a baseline measured in the same run (see each module's docstring) and reports each target it measures
with `harness.record_target`; at the end one table lists every target (workload, size, ours, baseline,
throughput ratio, peak-RSS ratio, target, pass/fail), and is written to `benchmarks/RESULTS.md` with the machine
and the date when all default benchmarks ran (`--no-write` keeps the file as it is).

Names: agbd_ingest, pcbvision_ingest, geoplant_ingest, cloudtracks_ingest, pipeline_overhead,
footprint_overhead, cluster_backfill, cluster_recovery (the last two start Redis and Celery workers on 127.0.0.1).
"""

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.harness import RESULTS_ENV

DEFAULT = [
    "agbd_ingest",
    "pcbvision_ingest",
    "cloudtracks_ingest",
    "geoplant_ingest",
    "pipeline_overhead",
    "footprint_overhead",
]
ALL = [*DEFAULT, "cluster_backfill", "cluster_recovery"]
RESULTS_MD = Path(__file__).with_name("RESULTS.md")
COLUMNS = ("workload", "size", "ours", "baseline", "throughput", "peak RSS", "target", "result")


def _fmt_ratio(value: float | None) -> str:
    return "-" if value is None else f"x{value:.2f}"


def summary_table(rows: list[dict]) -> list[str]:
    """Markdown table of the target rows (also readable as plain text)."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in rows:
        cells = [
            r["workload"],
            r["size"],
            r["ours"],
            r["baseline"],
            _fmt_ratio(r["throughput_ratio"]),
            _fmt_ratio(r["rss_ratio"]),
            r["target"],
            ("PASS" if r["pass"] else "FAIL") + (f" ({r['note']})" if r.get("note") else ""),
        ]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return lines


def machine_line() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
    except OSError:
        pass
    try:
        mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        mem_gb = float("nan")
    return f"{os.cpu_count()} cores ({cpu}), {mem_gb:.0f} GiB RAM, Python {platform.python_version()}"


def write_results(rows: list[dict], names: list[str], seconds: float) -> None:
    text = [
        "# Benchmark results",
        "",
        f"Written by `make bench` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; machine: "
        f"{machine_line()}. Benchmarks run: {', '.join(names)} ({seconds / 60:.0f} min).",
        "",
        "Every figure is a ratio against a baseline measured in the same run on the same machine (see each "
        "module's docstring for what the baseline is). Throughput ratio = ours / baseline (higher is better); "
        "peak RSS ratio = ours / baseline (lower is better).",
        "",
        *summary_table(rows),
        "",
    ]
    RESULTS_MD.write_text("\n".join(text))


def main(argv: list[str]) -> int:
    write = "--no-write" not in argv
    names = [a for a in argv if a != "--no-write"] or DEFAULT
    unknown = [n for n in names if n not in ALL]
    if unknown:
        print(f"unknown benchmark(s) {unknown}; choose from {ALL}")
        return 2
    failed = []
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="cdp-bench-") as tmp:
        results_file = Path(tmp) / "targets.jsonl"
        env = {**os.environ, RESULTS_ENV: str(results_file)}
        for name in names:
            print(f"\n===== benchmarks.{name} =====", flush=True)
            t0 = time.perf_counter()
            rc = subprocess.call([sys.executable, "-m", f"benchmarks.{name}"], env=env)
            print(f"===== {name}: exit {rc} after {time.perf_counter() - t0:.0f} s", flush=True)
            if rc:
                failed.append(name)
        rows = (
            [json.loads(line) for line in results_file.read_text().splitlines() if line.strip()]
            if results_file.exists()
            else []
        )
    seconds = time.perf_counter() - t_all
    print("\n" + "\n".join(summary_table(rows)))
    missed = [r for r in rows if not r["pass"]]
    print(f"\n{len(rows) - len(missed)}/{len(rows)} targets met")
    if write and rows and set(DEFAULT) <= set(names):
        write_results(rows, names, seconds)
        print(f"written to {RESULTS_MD}")
    if failed:
        print(f"failed: {failed}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
