"""`python -m benchmarks [NAME ...]` (or `make bench`): run the benchmarks one after another, each in its own
process, so that one's memory does not count against the next. Every benchmark prints its figures as ratios
against a baseline measured in the same run (see each module's docstring).

Names: agbd_ingest, pcbvision_ingest, geoplant_ingest, cloudtracks_ingest, footprint_overhead,
cluster_backfill, cluster_recovery (the last two start Redis and Celery workers on 127.0.0.1).
"""

import subprocess
import sys
import time

DEFAULT = ["agbd_ingest", "pcbvision_ingest", "cloudtracks_ingest", "geoplant_ingest", "footprint_overhead"]
ALL = [*DEFAULT, "cluster_backfill", "cluster_recovery"]


def main(argv: list[str]) -> int:
    names = argv or DEFAULT
    failed = []
    for name in names:
        if name not in ALL:
            print(f"unknown benchmark {name!r}; choose from {ALL}")
            return 2
        print(f"\n===== benchmarks.{name} =====", flush=True)
        t0 = time.perf_counter()
        rc = subprocess.call([sys.executable, "-m", f"benchmarks.{name}"])
        print(f"===== {name}: exit {rc} after {time.perf_counter() - t0:.0f} s", flush=True)
        if rc:
            failed.append(name)
    if failed:
        print(f"failed: {failed}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
