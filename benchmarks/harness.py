"""Measurement scaffolding shared by the ingest benchmarks.

A benchmark module measures each reader ("mode") in a fresh child process, `python -m benchmarks.<name> --worker
MODE SRC [OUT]`, so that the child's peak RSS is its own. The child prints one JSON line with at least `seconds`,
`rss_imports_mb` (peak RSS right after the imports) and `peak_rss_mb`; the parent keeps the fastest of `--repeat`
runs (the machine is shared, so the fastest run is the least disturbed) and prints a table plus one ratio line
against the baseline measured in the same run.

    parser = harness.argument_parser(__doc__, ("MODE", "SRC"))
    harness.add_scales_and_repeat(parser)
    args = parser.parse_args()
    if harness.worker_main(args, _worker):  # in the child: print the worker's JSON line
        return
    result = harness.best_of("benchmarks.<name>", [mode, str(src)], args.repeat)
"""

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any

SCALE_LABELS = {1: "sample", 10: "10x sample"}


def peak_rss_mb() -> float:
    """Peak resident memory of this process (VmHWM). Unlike ru_maxrss it starts afresh at exec, so the parent's
    memory (it generated the source files) does not leak into the child's figure."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(mode: str, work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run `work()` (which returns its counts, e.g. `{"rows": n}`) and return the worker's JSON record: mode,
    counts, seconds, the peak RSS before `work` (i.e. after the imports) and after it."""
    rss_imports = peak_rss_mb()
    t0 = time.perf_counter()
    counts = work()
    seconds = time.perf_counter() - t0
    return {
        "mode": mode,
        **counts,
        "seconds": seconds,
        "rss_imports_mb": rss_imports,
        "peak_rss_mb": peak_rss_mb(),
    }


def argument_parser(doc: str | None, worker_metavar: Sequence[str]) -> argparse.ArgumentParser:
    """The benchmark's parser (help = the module docstring) with the hidden `--worker` option `best_of` uses."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    metavar = tuple(worker_metavar)
    parser.add_argument("--worker", nargs=len(metavar), metavar=metavar, help=argparse.SUPPRESS)
    return parser


def add_scales_and_repeat(parser: argparse.ArgumentParser) -> None:
    """`--scales` (default 1 10: the sample and a 10x sample) and `--repeat` (default 3)."""
    parser.add_argument("--scales", type=int, nargs="*", default=[1, 10])
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs per reader and size; the fastest is shown"
    )


def scale_label(scale: int) -> str:
    return SCALE_LABELS.get(scale, f"scale {scale}")


def worker_main(args: argparse.Namespace, worker: Callable[..., dict[str, Any]]) -> bool:
    """In a `--worker` child: print `worker(*args.worker)` as one JSON line and return True; else False."""
    if not args.worker:
        return False
    print(json.dumps(worker(*args.worker)))
    return True


def best_of(
    module: str, args: Sequence[str], repeat: int = 1, out_prefix: str | None = None
) -> dict[str, Any]:
    """Fastest of `repeat` runs of `python -m <module> --worker <args...>`, each a fresh process. With
    `out_prefix`, every run also gets a fresh temporary output folder as its last argument (removed after it)."""
    runs = []
    for _ in range(repeat):
        cmd = [sys.executable, "-m", module, "--worker", *args]
        if out_prefix is None:
            proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
        else:
            with tempfile.TemporaryDirectory(prefix=out_prefix) as out:
                proc = subprocess.run([*cmd, out], capture_output=True, text=True, check=True)
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return min(runs, key=lambda r: r["seconds"])


def growth_mb(r: dict[str, Any]) -> float:
    """Peak RSS growth due to the work (peak minus the peak right after the imports)."""
    return r["peak_rss_mb"] - r["rss_imports_mb"]


class Table:
    """Fixed-width text table. Each column is (title, align+width, number format), e.g. ("MB", ">5", ".1f")."""

    def __init__(self, *columns: tuple[str, str] | tuple[str, str, str]):
        self.columns = [(c[0], c[1], c[2] if len(c) > 2 else "") for c in columns]

    @property
    def indent(self) -> str:
        """Blank first column, for lines under the rows (the ratio line)."""
        return " " * int(self.columns[0][1].lstrip("<>^"))

    def header(self) -> str:
        return " ".join(f"{title:{spec}}" for title, spec, _ in self.columns)

    def row(self, *values: Any) -> str:
        assert len(values) == len(self.columns), values
        return " ".join(f"{v:{spec}{fmt}}" for v, (_, spec, fmt) in zip(values, self.columns, strict=True))

    def ratio(
        self,
        base_name: str,
        ours: dict[str, Any],
        base: dict[str, Any],
        *,
        throughput: str = "throughput",
        growth: str | None = None,
        note: str = "",
    ) -> str:
        """`ratio platform / <base_name>: throughput xA, peak RSS xB[, RSS growth ...][ (note)]`. Throughput is
        base seconds / our seconds (same work); `growth` "mb" prints both growths in MB, "ratio" their ratio."""
        parts = [
            f"{throughput} x{base['seconds'] / ours['seconds']:.2f}",
            f"peak RSS x{ours['peak_rss_mb'] / base['peak_rss_mb']:.2f}",
        ]
        if growth == "mb":
            parts.append(f"RSS growth {growth_mb(ours):.0f} MB vs {growth_mb(base):.0f} MB")
        elif growth == "ratio":
            parts.append(f"RSS growth x{growth_mb(ours) / max(growth_mb(base), 1e-9):.2f}")
        elif growth is not None:
            raise ValueError(f"growth must be 'mb', 'ratio' or None, not {growth!r}")
        line = f"{self.indent} ratio platform / {base_name}: {', '.join(parts)}"
        return f"{line} ({note})" if note else line


# Environment variable naming a JSON-lines file that `python -m benchmarks` collects into one summary table
# (and benchmarks/RESULTS.md). Unset when a benchmark module runs on its own: then rows are only printed.
RESULTS_ENV = "CDP_BENCH_RESULTS"


def record_target(
    workload: str,
    size: str,
    ours: str,
    baseline: str,
    throughput_ratio: float | None,
    rss_ratio: float | None,
    target: str,
    passed: bool,
    note: str = "",
) -> dict[str, Any]:
    """One row of the summary table: a workload at a size, our figure and the baseline's (with units, e.g.
    "1.04 M rows/s"), the throughput and peak-RSS ratios ours / baseline, the target in words (e.g.
    "throughput >= 0.8x, peak RSS <= 1.0x") and whether this run met it. Printed, and appended to the file
    named by CDP_BENCH_RESULTS when set."""
    import os

    row = {
        "workload": workload,
        "size": size,
        "ours": ours,
        "baseline": baseline,
        "throughput_ratio": throughput_ratio,
        "rss_ratio": rss_ratio,
        "target": target,
        "pass": bool(passed),
        "note": note,
    }
    verdict = "PASS" if passed else "FAIL"
    tr = "-" if throughput_ratio is None else f"x{throughput_ratio:.2f}"
    rr = "-" if rss_ratio is None else f"x{rss_ratio:.2f}"
    print(
        f"TARGET {verdict}: {workload} [{size}] ours {ours} vs {baseline}: throughput {tr}, peak RSS {rr} ({target})"
    )
    path = os.environ.get(RESULTS_ENV)
    if path:
        with open(path, "a") as f:
            f.write(json.dumps(row) + "\n")
    return row
