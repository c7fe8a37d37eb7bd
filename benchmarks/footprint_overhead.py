"""Cost of footprint accounting: the same scikit-learn fit bare, inside `measure_footprint` with the CPU-time model
(the default on machines without power sensors) and with codecarbon's offline tracker, and the energy each reports.

    .venv/bin/python -m benchmarks.footprint_overhead            # 5 repeats of a ~1 s fit (80k x 60 logistic regression)
    .venv/bin/python -m benchmarks.footprint_overhead --repeats 3 --samples 40000

Wall times are medians over the repeats, measured in this run; ratios are against the bare fit of the same run.
The log goes to a temporary data root.
"""

import argparse
import os
import statistics
import tempfile
import time


def _fit(samples: int) -> None:
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression

    X, y = make_classification(n_samples=samples, n_features=60, random_state=0)
    LogisticRegression(max_iter=300).fit(X, y)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--samples", type=int, default=80000)
    args = parser.parse_args()
    os.environ["CDP_DATA_ROOT"] = tempfile.mkdtemp(prefix="cdp-footprint-bench-")
    from dagster_project.footprint import measure_footprint

    _fit(args.samples)  # warm imports and caches
    rows = []
    for label, method in (("bare fit", None), ("cpu_model", "cpu_model"), ("codecarbon", "codecarbon")):
        walls, energies, status = [], [], ""
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            if method is None:
                _fit(args.samples)
            else:
                os.environ["CDP_FOOTPRINT_METHOD"] = method
                with measure_footprint(None, task="benchmark") as fp:
                    _fit(args.samples)
                energies.append(fp.energy_kwh or 0.0)
                status = f"{fp.status}: {fp.method}"
            walls.append(time.perf_counter() - t0)
        rows.append(
            (label, statistics.median(walls), statistics.median(energies) if energies else None, status)
        )
    base = rows[0][1]
    print(f"{'variant':12} {'wall s':>8} {'x bare':>7} {'energy J':>9}  method")
    for label, wall, energy, status in rows:
        joules = "" if energy is None else f"{energy * 3.6e6:9.2f}"
        print(f"{label:12} {wall:8.3f} {wall / base:7.2f} {joules:>9}  {status}")


if __name__ == "__main__":
    main()
