"""Measuring one block of work: the settings, the energy meters (RAPL counters, codecarbon, the CPU-time model),
process statistics, carbon and water from the energy, and `measure_footprint`, which puts the figures in the
asset's metadata and hands them to the log (`log.py`). How each figure is obtained: the package docstring.

Measurement never fails a run. Every failure that can occur is named where it is caught and becomes an
"unmeasured" status with the reason:

- `FootprintError`: raised here for a bad setting, an unknown grid country, no RAPL counter, a meter that
  returned nothing; codecarbon's own failures are translated into it (`CODECARBON_ERRORS`);
- `OSError` / `ValueError` (`SENSOR_ERRORS`): a sensor file (RAPL `energy_uj`) that vanished, became unreadable
  or held something other than an integer between the start and the end of the block.
"""

import contextlib
import functools
import logging
import os
import platform
import re
import resource
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg

from dagster_project import settings
from dagster_project.footprint import log

METHODS = ("auto", "codecarbon", "rapl", "cpu_model")

# Documented defaults (see the package docstring and the README "Footprint accounting").
DEFAULT_METHOD = "auto"
DEFAULT_GRID_COUNTRY = "USA"
DEFAULT_WATTS_PER_CPU_THREAD = (
    4.0  # codecarbon's DEFAULT_POWER_PER_CORE for an unknown CPU (W per busy thread)
)
DEFAULT_WATTS_PER_GB_RAM = 0.3725  # Green Algorithms (Lannelongue, Grealey & Inouye 2021), W per GB of memory
DEFAULT_WUE_ONSITE_L_PER_KWH = 0.55  # Li et al. 2023, U.S. average on-site WUE
DEFAULT_WATER_OFFSITE_L_PER_KWH = (
    3.14  # Li et al. 2023 / WRI (Reig et al. 2020), U.S. electricity water intensity
)

RAPL_ROOT = Path("/sys/class/powercap")

logger = logging.getLogger(__name__)


class FootprintError(RuntimeError):
    """A measurement could not be taken; recorded as "unmeasured" with this message, never raised to the run."""


# A sensor read between start and stop: the file vanished or became unreadable (OSError), or held something that
# is not an integer (ValueError from int()).
SENSOR_ERRORS: tuple[type[Exception], ...] = (OSError, ValueError)
# Everything a measurement can raise (see the module docstring); what `measure_footprint` turns into "unmeasured".
MEASUREMENT_ERRORS: tuple[type[Exception], ...] = (FootprintError, *SENSOR_ERRORS)


def _codecarbon_errors() -> tuple[type[Exception], ...]:
    """What codecarbon raises when it cannot measure here, translated into `FootprintError` by its meter:
    ImportError (not installed, or an optional backend missing), OSError/FileNotFoundError (a sensor file it
    detected vanished), SystemError (its "platform not supported" for RAPL/Power Gadget), ValueError/KeyError
    (its bundled data or configuration not as it expects), DataSourceException (a bundled data file missing).
    Its remaining plain `Exception`s are for an unknown tracking mode, an Apple-silicon chip part and an offline
    tracker without a country: we always pass "process" and a country, and do not run on macOS."""
    errors: tuple[type[Exception], ...] = (ImportError, OSError, SystemError, ValueError, KeyError)
    try:
        from codecarbon.input import DataSourceException
    except ImportError:  # codecarbon absent: the ImportError above is all it can raise
        return errors
    return (*errors, DataSourceException)


def _env_float(env: dict[str, str], name: str, default: float) -> float:
    raw = env.get(name, "")
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise FootprintError(f"{name}={raw!r} is not a number") from exc
    if value < 0:
        raise FootprintError(f"{name}={raw!r} must be >= 0")
    return value


@dataclass(frozen=True)
class FootprintSettings:
    """The footprint settings, read from the environment (`settings.footprint_env()`) at each measurement, so a
    changed variable applies to the next run without a restart."""

    method: str = DEFAULT_METHOD
    grid_country: str = DEFAULT_GRID_COUNTRY
    grid_intensity_override: float | None = None
    watts_per_thread: float = DEFAULT_WATTS_PER_CPU_THREAD
    watts_per_gb: float = DEFAULT_WATTS_PER_GB_RAM
    wue_onsite: float = DEFAULT_WUE_ONSITE_L_PER_KWH
    water_offsite: float = DEFAULT_WATER_OFFSITE_L_PER_KWH

    @classmethod
    def from_env(cls) -> "FootprintSettings":
        env = settings.footprint_env()
        method = (env["CDP_FOOTPRINT_METHOD"] or DEFAULT_METHOD).lower()
        if method not in METHODS:
            raise FootprintError(f"CDP_FOOTPRINT_METHOD={method!r}: expected one of {', '.join(METHODS)}")
        override = env["CDP_GRID_CARBON_INTENSITY_G_PER_KWH"]
        return cls(
            method=method,
            grid_country=(env["CDP_GRID_COUNTRY"] or DEFAULT_GRID_COUNTRY).upper(),
            grid_intensity_override=_env_float(env, "CDP_GRID_CARBON_INTENSITY_G_PER_KWH", 0.0)
            if override
            else None,
            watts_per_thread=_env_float(env, "CDP_FOOTPRINT_WATTS_PER_THREAD", DEFAULT_WATTS_PER_CPU_THREAD),
            watts_per_gb=_env_float(env, "CDP_FOOTPRINT_WATTS_PER_GB", DEFAULT_WATTS_PER_GB_RAM),
            wue_onsite=_env_float(env, "CDP_WUE_ONSITE_L_PER_KWH", DEFAULT_WUE_ONSITE_L_PER_KWH),
            water_offsite=_env_float(env, "CDP_WATER_OFFSITE_L_PER_KWH", DEFAULT_WATER_OFFSITE_L_PER_KWH),
        )


@functools.cache
def grid_intensity(country: str) -> tuple[float, str]:
    """Carbon intensity of electricity (g CO2e/kWh) of an ISO 3166-1 alpha-3 country, and where it comes from:
    codecarbon's bundled per-country table (`global_energy_mix.json`, 2023) or its world average for `WORLD`."""
    try:
        from codecarbon.input import DataSource

        source = DataSource()
        if country == "WORLD":
            per_source = source.get_carbon_intensity_per_source_data()
            return float(per_source["world_average"]), "codecarbon world average (IEA 2019)"
        mix = source.get_global_energy_mix_data()
    except _codecarbon_errors() as exc:  # codecarbon or its bundled tables unavailable
        raise FootprintError(f"grid carbon intensity unavailable: {type(exc).__name__}: {exc}") from exc
    if country not in mix or mix[country].get("carbon_intensity") is None:
        raise FootprintError(
            f"CDP_GRID_COUNTRY={country!r}: not in codecarbon's per-country table; use an ISO 3166-1 alpha-3 code "
            "(e.g. USA, FRA, DEU), WORLD, or set CDP_GRID_CARBON_INTENSITY_G_PER_KWH"
        )
    entry = mix[country]
    return (
        float(entry["carbon_intensity"]),
        f"codecarbon global_energy_mix {entry.get('year', '')} ({entry.get('country_name', country)})".strip(),
    )


@dataclass
class Footprint:
    """One measurement. Energy, CO2e and water stay None when unmeasured (`unmeasured_reason` says why)."""

    task: str
    measurement_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    run_id: str = ""
    asset_key: str = ""
    dataset: str = ""
    partition_key: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    wall_s: float = 0.0
    cpu_s: float = 0.0
    peak_rss_mb: float = 0.0
    energy_kwh: float | None = None
    cpu_energy_kwh: float | None = None
    ram_energy_kwh: float | None = None
    gpu_energy_kwh: float | None = None
    co2e_kg: float | None = None
    water_l: float | None = None
    method: str = "unmeasured"
    measured: bool = False
    unmeasured_reason: str | None = None
    grid_country: str | None = None
    grid_intensity_g_per_kwh: float | None = None
    grid_intensity_source: str | None = None
    wue_onsite_l_per_kwh: float | None = None
    water_offsite_l_per_kwh: float | None = None
    hardware: str = ""
    cpu_threads: int = 0
    hostname: str = ""
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> str:
        """ "measured" (sensors), "modelled" (a documented power model) or "unmeasured"."""
        if self.energy_kwh is None:
            return "unmeasured"
        return "measured" if self.measured else "modelled"

    def metadata(self) -> dict[str, Any]:
        """Dagster metadata: numbers as floats (plotted across runs), the method and status as text."""
        md: dict[str, Any] = {
            "footprint/task": self.task,
            "footprint/status": self.status,
            "footprint/method": self.method,
            "footprint/measured": self.measured,
            "footprint/wall_s": dg.MetadataValue.float(round(self.wall_s, 3)),
            "footprint/cpu_s": dg.MetadataValue.float(round(self.cpu_s, 3)),
            "footprint/peak_rss_mb": dg.MetadataValue.float(round(self.peak_rss_mb, 1)),
        }
        for name in ("energy_kwh", "co2e_kg", "water_l", "grid_intensity_g_per_kwh"):
            value = getattr(self, name)
            if value is not None:
                md[f"footprint/{name}"] = dg.MetadataValue.float(float(value))
        if self.grid_country:
            md["footprint/grid_country"] = self.grid_country
        if self.hardware:
            md["footprint/hardware"] = self.hardware
        if self.unmeasured_reason:
            md["footprint/unmeasured_reason"] = self.unmeasured_reason
        for k, v in self.notes.items():
            md[f"footprint/{k}"] = v
        return md

    def record(self) -> dict[str, Any]:
        """One row of the footprint log (columns of `log.LOG_SCHEMA`)."""
        row = {k: v for k, v in asdict(self).items() if k in log.LOG_SCHEMA}
        row["status"] = self.status
        return row


# ---------------------------------------------------------------------------------------------------------------
# process statistics


def _cpu_seconds() -> float:
    self_ = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return self_.ru_utime + self_.ru_stime + children.ru_utime + children.ru_stime


def _rss_mb() -> float:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:  # pragma: no cover - no /proc (non-Linux): the process peak instead
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class _PeakSampler(threading.Thread):
    """Samples the resident set size every 50 ms: ru_maxrss is the peak of the whole process life, not of the
    measured block."""

    def __init__(self, interval: float = 0.05):
        super().__init__(daemon=True, name="footprint-rss-sampler")
        self.interval, self.peak, self._halt = interval, _rss_mb(), threading.Event()

    def run(self) -> None:
        while not self._halt.wait(self.interval):
            self.peak = max(self.peak, _rss_mb())

    def stop(self) -> float:
        self._halt.set()
        self.join(timeout=1)
        return max(self.peak, _rss_mb())


@functools.cache
def cpu_description() -> tuple[str, int]:
    """CPU model name and logical thread count of this machine."""
    name = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):  # no /proc/cpuinfo (non-Linux, sandbox): keep platform's name
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    return name or "unknown CPU", os.cpu_count() or 1


# ---------------------------------------------------------------------------------------------------------------
# energy meters: start() before the work, stop() after; stop() fills the footprint's energy fields


def rapl_domains(root: Path = RAPL_ROOT) -> list[Path]:
    """Readable top-level RAPL package domains (`intel-rapl:N`); empty when the machine exposes none."""
    found = []
    for d in sorted(root.glob("intel-rapl:*")) if root.exists() else []:
        if re.fullmatch(r"intel-rapl:\d+", d.name) and os.access(d / "energy_uj", os.R_OK):
            found.append(d)
    return found


def nvidia_gpu_present() -> bool:
    return any(Path("/dev").glob("nvidia[0-9]*"))


class _RaplMeter:
    """The CPU package energy counters. Reads raise `SENSOR_ERRORS`, caught by `measure_footprint`."""

    method = "rapl (CPU package counters, whole package)"

    def __init__(self) -> None:
        self.domains = rapl_domains()
        if not self.domains:
            raise FootprintError(f"no readable RAPL counters under {RAPL_ROOT}")
        self._start: dict[Path, int] = {}

    def _read(self) -> dict[Path, int]:
        return {d: int((d / "energy_uj").read_text()) for d in self.domains}

    def start(self) -> None:
        self._start = self._read()

    def stop(self, fp: Footprint) -> None:
        end, total_uj = self._read(), 0
        for d, e0 in self._start.items():
            delta = end[d] - e0
            if delta < 0:  # the counter wrapped around
                delta += int((d / "max_energy_range_uj").read_text())
            total_uj += delta
        fp.cpu_energy_kwh = total_uj / 3.6e12
        fp.energy_kwh = fp.cpu_energy_kwh
        fp.method, fp.measured = self.method, True


class _CodecarbonMeter:
    """codecarbon's offline tracker; its failures (`_codecarbon_errors()`) are raised as `FootprintError`."""

    # CPU modes in which codecarbon reads a sensor rather than a constant
    MEASURED_CPU_MODES = {"intel_rapl", "intel_power_gadget", "apple_powermetrics", "windows_emi"}

    def __init__(self, settings: FootprintSettings) -> None:
        try:
            from codecarbon import OfflineEmissionsTracker

            # codecarbon logs its hardware detection at INFO/WARNING; the chosen method is in our metadata instead.
            logging.getLogger("codecarbon").setLevel(logging.ERROR)
            # codecarbon's own CO2 figure is not used (ours is energy x the configured intensity), but its
            # constructor needs a country it knows.
            self.tracker = OfflineEmissionsTracker(
                country_iso_code=settings.grid_country if settings.grid_country != "WORLD" else "USA",
                tracking_mode="process",
                save_to_file=False,
                log_level="error",
                allow_multiple_runs=True,
            )
        except _codecarbon_errors() as exc:
            raise FootprintError(f"codecarbon could not start: {type(exc).__name__}: {exc}") from exc

    def start(self) -> None:
        try:
            self.tracker.start()
        except _codecarbon_errors() as exc:
            raise FootprintError(f"codecarbon could not start: {type(exc).__name__}: {exc}") from exc

    def stop(self, fp: Footprint) -> None:
        try:
            self.tracker.stop()
        except _codecarbon_errors() as exc:
            raise FootprintError(f"codecarbon could not measure: {type(exc).__name__}: {exc}") from exc
        data = self.tracker.final_emissions_data
        if data is None:
            raise FootprintError("codecarbon returned no data")
        parts, measured, gpu = [], False, False
        for hw in self.tracker._hardware:
            kind, mode = type(hw).__name__, getattr(hw, "_mode", None)
            parts.append(f"{kind}:{mode}" if mode else kind)
            measured |= kind == "CPU" and mode in self.MEASURED_CPU_MODES
            if kind in ("GPU", "AMDGPU") or "gpu" in kind.lower():
                measured, gpu = True, True
        fp.energy_kwh = float(data.energy_consumed)
        fp.cpu_energy_kwh, fp.ram_energy_kwh = float(data.cpu_energy), float(data.ram_energy)
        fp.gpu_energy_kwh = float(data.gpu_energy)
        fp.method = f"codecarbon {self._version()} offline, process mode ({', '.join(parts)})"
        fp.measured = measured
        if gpu and getattr(data, "gpu_model", None):
            fp.hardware += f"; GPU: {data.gpu_model} x {data.gpu_count}"

    @staticmethod
    def _version() -> str:
        from codecarbon import __version__

        return __version__


class _CpuModelMeter:
    """The documented power model: arithmetic on times and memory, nothing to fail."""

    def __init__(self, settings: FootprintSettings) -> None:
        self.settings = settings

    def start(self) -> None:
        pass

    def stop(self, fp: Footprint) -> None:
        s = self.settings
        fp.cpu_energy_kwh = fp.cpu_s * s.watts_per_thread / 3.6e6
        fp.ram_energy_kwh = fp.wall_s * (fp.peak_rss_mb / 1024) * s.watts_per_gb / 3.6e6
        fp.gpu_energy_kwh = 0.0
        fp.energy_kwh = fp.cpu_energy_kwh + fp.ram_energy_kwh
        fp.method = f"cpu_model: CPU-s x {s.watts_per_thread:g} W/thread + wall-s x peak RSS GB x {s.watts_per_gb:g} W/GB"
        fp.measured = False


def _choose_meter(settings: FootprintSettings):
    if settings.method == "cpu_model":
        return _CpuModelMeter(settings)
    if settings.method == "rapl":
        return _RaplMeter()
    if settings.method == "codecarbon":
        return _CodecarbonMeter(settings)
    # auto: codecarbon only where it has a sensor to read; otherwise it would apply the same constants we do.
    if rapl_domains() or nvidia_gpu_present():
        try:
            return _CodecarbonMeter(settings)
        except FootprintError as exc:  # codecarbon failed to start: the counters directly, else the model
            logger.debug("footprint: codecarbon unavailable (%s); falling back", exc)
            if rapl_domains():
                return _RaplMeter()
    return _CpuModelMeter(settings)


# ---------------------------------------------------------------------------------------------------------------
# the measurement


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _context_identity(context, fp: Footprint) -> None:
    """Run, asset, dataset and partition of the measured step, as far as the context has them."""
    if context is None:
        return
    # Dagster refuses a property a context does not have with a DagsterError: DagsterInvalidPropertyError for a
    # context built directly (`build_asset_context()`: no run, no op) or an op's (no asset), and
    # DagsterInvariantViolationError for `asset_key` in a multi-asset (no single key).
    with contextlib.suppress(dg.DagsterError):
        fp.run_id = context.run.run_id
    with contextlib.suppress(dg.DagsterError):  # an op, or a multi-asset: name it after the step
        fp.asset_key = getattr(context, "op_execution_context", context).op_handle.name
    with contextlib.suppress(dg.DagsterError):
        key = context.asset_key
        fp.asset_key = key.to_user_string()
        fp.dataset = context.assets_def.group_names_by_key.get(key) or ""
    if context.has_partition_key:
        fp.partition_key = context.partition_key


def _add_metadata(context, fp: Footprint) -> None:
    """The figures as the step's output metadata. A step with several outputs (an asset with check specs, a
    multi-asset) refuses metadata without an output name (DagsterInvariantViolationError): then the measured
    asset's own output is named; a multi-asset has no single one, which the step's log says."""
    md = fp.metadata()
    try:
        context.add_output_metadata(md)
        return
    except dg.DagsterError as exc:
        first = exc
    try:
        context.add_output_metadata(
            md, output_name=context.assets_def.get_output_name_for_asset_key(context.asset_key)
        )
    except dg.DagsterError:  # no single asset to attach it to: the log row is all there is
        context.log.warning(f"footprint: not added to the step's metadata ({_reason(first)})")


def _finish(fp: Footprint, meter, settings: FootprintSettings | None) -> None:
    """Energy from the meter, then carbon and water from the energy. A failure → "unmeasured" with the reason."""
    try:
        if settings is None:
            raise FootprintError("footprint settings could not be read")
        if meter is None:
            raise FootprintError("no energy meter could be started")
        meter.stop(fp)
        if fp.energy_kwh is None or fp.energy_kwh < 0:
            raise FootprintError(f"energy meter returned {fp.energy_kwh!r}")
        if settings.grid_intensity_override is not None:
            intensity, source = settings.grid_intensity_override, "CDP_GRID_CARBON_INTENSITY_G_PER_KWH"
        else:
            intensity, source = grid_intensity(settings.grid_country)
        fp.grid_country = settings.grid_country
        fp.grid_intensity_g_per_kwh, fp.grid_intensity_source = intensity, source
        fp.co2e_kg = fp.energy_kwh * intensity / 1000
        fp.wue_onsite_l_per_kwh, fp.water_offsite_l_per_kwh = settings.wue_onsite, settings.water_offsite
        fp.water_l = fp.energy_kwh * (settings.wue_onsite + settings.water_offsite)
    except MEASUREMENT_ERRORS as exc:  # never fail the run because of accounting
        fp.energy_kwh = fp.cpu_energy_kwh = fp.ram_energy_kwh = fp.gpu_energy_kwh = None
        fp.co2e_kg = fp.water_l = None
        fp.method, fp.measured = "unmeasured", False
        fp.unmeasured_reason = _reason(exc)


@contextlib.contextmanager
def measure_footprint(
    context: dg.AssetExecutionContext | None, task: str = "training"
) -> Iterator[Footprint]:
    """Measure the block: wall and CPU time, peak memory, energy, CO2e and water. The figures are added to the
    asset's metadata and appended to the footprint log; the yielded `Footprint` holds them after the block.
    Exceptions of the block propagate unchanged; failures of the measurement itself never do."""
    fp = Footprint(task=task)
    settings, meter = None, None
    try:
        settings = FootprintSettings.from_env()
        meter = _choose_meter(settings)
    except FootprintError as exc:  # a bad setting, or the chosen meter has nothing to read here
        fp.unmeasured_reason = _reason(exc)
    cpu_name, threads = cpu_description()
    fp.hardware, fp.cpu_threads, fp.hostname = (
        f"CPU: {cpu_name}, {threads} threads",
        threads,
        socket.gethostname(),
    )
    _context_identity(context, fp)
    sampler = _PeakSampler()
    fp.started_at = datetime.now(UTC)
    if meter is not None:
        try:
            meter.start()
        except MEASUREMENT_ERRORS as exc:  # a counter unreadable at the start, codecarbon refusing to start
            if settings.method == "auto" and not isinstance(meter, _CpuModelMeter):
                # a sensor that fails to start should not cost the figure: fall back to the documented model
                fp.notes["fallback_reason"] = f"{type(meter).__name__}: {_reason(exc)}"
                meter = _CpuModelMeter(settings)
            else:
                fp.unmeasured_reason, meter = _reason(exc), None
    t0, c0 = time.perf_counter(), _cpu_seconds()
    sampler.start()
    try:
        yield fp
    finally:
        fp.peak_rss_mb = sampler.stop()
        fp.wall_s = time.perf_counter() - t0
        fp.cpu_s = max(0.0, _cpu_seconds() - c0)
        fp.ended_at = datetime.now(UTC)
        setup_failure = fp.unmeasured_reason  # the first cause is the useful one
        _finish(fp, meter, settings)
        fp.unmeasured_reason = setup_failure or fp.unmeasured_reason
        try:
            log.append_to_log(log.lake_of(context), fp)
        except log.LOG_WRITE_ERRORS as exc:  # the lake unwritable: the figures stay in the metadata
            fp.notes["log_error"] = _reason(exc)
            if context is not None:
                context.log.warning(f"footprint: could not append to the footprint log: {exc}")
        if context is not None:
            _add_metadata(context, fp)
            if fp.status == "unmeasured":
                context.log.warning(f"footprint of {task} unmeasured: {fp.unmeasured_reason}")
