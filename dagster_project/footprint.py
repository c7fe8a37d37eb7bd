"""Footprint accounting for training and evaluation assets: wall time, CPU time, peak memory, energy, CO2e, water.

Use it around the work of any model or evaluation asset:

    with measure_footprint(context, task="training"):
        model.fit(X, y)

The figures land in the asset's metadata (numeric, so the UI plots them across runs). Measurement never fails a
run: if something cannot be measured, the metadata says "unmeasured" and why.
"""

import contextlib
import os
import resource
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import dagster as dg

# Documented defaults (see README "Footprint accounting").
DEFAULT_WATTS_PER_CPU_THREAD = 4.0  # codecarbon's fallback for an unknown CPU (W per busy thread)
DEFAULT_GRID_G_PER_KWH = float(os.environ.get("CDP_GRID_CARBON_INTENSITY_G_PER_KWH", "0") or 0)


@dataclass
class Footprint:
    task: str
    wall_s: float = 0.0
    cpu_s: float = 0.0
    peak_rss_mb: float = 0.0
    energy_kwh: float | None = None
    co2e_kg: float | None = None
    water_l: float | None = None
    method: str = "unmeasured"
    measured: bool = False
    notes: dict[str, Any] = field(default_factory=dict)

    def metadata(self) -> dict[str, Any]:
        md: dict[str, Any] = {
            "footprint/task": self.task,
            "footprint/wall_s": round(self.wall_s, 3),
            "footprint/cpu_s": round(self.cpu_s, 3),
            "footprint/peak_rss_mb": round(self.peak_rss_mb, 1),
            "footprint/method": self.method,
            "footprint/measured": self.measured,
        }
        for name, value in (
            ("energy_kwh", self.energy_kwh),
            ("co2e_kg", self.co2e_kg),
            ("water_l", self.water_l),
        ):
            md[f"footprint/{name}"] = float(value) if value is not None else "unmeasured"
        for k, v in self.notes.items():
            md[f"footprint/{k}"] = v
        return md


def _cpu_seconds() -> float:
    self_ = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return self_.ru_utime + self_.ru_stime + children.ru_utime + children.ru_stime


def _rss_mb() -> float:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:  # pragma: no cover - non-Linux
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class _PeakSampler(threading.Thread):
    def __init__(self, interval: float = 0.05):
        super().__init__(daemon=True)
        self.interval, self.peak, self._halt = interval, _rss_mb(), threading.Event()

    def run(self) -> None:
        while not self._halt.wait(self.interval):
            self.peak = max(self.peak, _rss_mb())

    def stop(self) -> float:
        self._halt.set()
        self.join(timeout=1)
        return max(self.peak, _rss_mb())


@contextlib.contextmanager
def measure_footprint(
    context: dg.AssetExecutionContext | None, task: str = "training"
) -> Iterator[Footprint]:
    fp = Footprint(task=task)
    sampler = _PeakSampler()
    t0, c0 = time.perf_counter(), _cpu_seconds()
    sampler.start()
    try:
        yield fp
    finally:
        fp.peak_rss_mb = sampler.stop()
        fp.wall_s = time.perf_counter() - t0
        fp.cpu_s = max(0.0, _cpu_seconds() - c0)
        try:
            energy_j = fp.cpu_s * DEFAULT_WATTS_PER_CPU_THREAD
            fp.energy_kwh = energy_j / 3.6e6
            fp.method = "cpu-time x W/thread model"
            if DEFAULT_GRID_G_PER_KWH:
                fp.co2e_kg = fp.energy_kwh * DEFAULT_GRID_G_PER_KWH / 1000
        except Exception as exc:  # never fail the run because of accounting
            fp.method, fp.notes["unmeasured_reason"] = "unmeasured", str(exc)
        if context is not None:
            with contextlib.suppress(Exception):
                context.add_output_metadata(fp.metadata())
