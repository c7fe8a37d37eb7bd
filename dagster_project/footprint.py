"""Footprint accounting for training and evaluation assets: wall time, CPU time, peak memory, energy, CO2e, water.

Use it around the work of any model or evaluation asset:

    with measure_footprint(context, task="training"):
        model.fit(X, y)

Each measurement (1) lands in the asset's metadata under `footprint/*` (numeric, so the UI plots it across runs)
and (2) is appended to the footprint log on the data root, one parquet file per measurement under
`footprint/log/<asset_key>/` (a new file per measurement, so concurrent steps never write the same object), which
dbt models into the `platform_footprint` mart. Measurement never fails a run: if something cannot be measured, the
status is "unmeasured" and `footprint/unmeasured_reason` says why.

How each figure is obtained (the README's "Footprint accounting" section has the same text for users):

- energy (kWh), chosen by `CDP_FOOTPRINT_METHOD` (default `auto`):
  - `rapl`: the CPU package energy counters (`/sys/class/powercap/intel-rapl:*/energy_uj`) read before and after;
    a measurement, but of the whole package (every process on the socket), so it over-attributes on a busy host.
  - `codecarbon`: codecarbon's `OfflineEmissionsTracker` (no network; `tracking_mode="process"`). It measures
    only where it finds sensors (RAPL, NVML for NVIDIA GPUs, ...); without them it falls back to constants
    (4 W per busy CPU thread for an unknown CPU, 10 W RAM floor), and the status says "modelled".
  - `cpu_model`: process + children CPU-seconds x `CDP_FOOTPRINT_WATTS_PER_THREAD` (default 4 W, codecarbon's
    figure for an unknown CPU) + wall-seconds x peak RSS (GB) x `CDP_FOOTPRINT_WATTS_PER_GB` (default 0.3725 W/GB,
    the memory power of Green Algorithms, Lannelongue et al. 2021). Always "modelled".
  - `auto`: codecarbon when the machine exposes sensors it reads (RAPL counters or an NVIDIA GPU), otherwise
    `cpu_model`: without sensors codecarbon applies the same per-thread constant (within 3 % on this platform's
    reference machine) but costs ~2 s and several subprocesses per measurement.
- CO2e (kg) = energy x grid carbon intensity: `CDP_GRID_CARBON_INTENSITY_G_PER_KWH` if set, else the 2023
  intensity of `CDP_GRID_COUNTRY` (ISO 3166-1 alpha-3, default `USA` = 369.5 g/kWh) from codecarbon's bundled
  `global_energy_mix.json`; `WORLD` gives codecarbon's world average (475 g/kWh, IEA 2019).
- water (L) = energy x (on-site WUE + off-site water intensity of electricity): `CDP_WUE_ONSITE_L_PER_KWH`
  (default 0.55 L/kWh) and `CDP_WATER_OFFSITE_L_PER_KWH` (default 3.14 L/kWh), the U.S. averages used by Li et al.
  2023, "Making AI Less Thirsty" (arXiv 2304.03271; the off-site figure is WRI's U.S. factor, Reig et al. 2020).
  No data-centre overhead (PUE) is applied: the figures are for the machine itself.
"""

import contextlib
import functools
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
import polars as pl

METHODS = ("auto", "codecarbon", "rapl", "cpu_model")

# Documented defaults (see the module docstring and the README "Footprint accounting").
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

LOG_DIR = "footprint/log"
# An empty file with the log's columns, so that dbt's glob always matches (a lake with no measurement yet still
# builds the mart, with zero rows).
LOG_SCHEMA_FILE = f"{LOG_DIR}/_schema.parquet"
RAPL_ROOT = Path("/sys/class/powercap")

LOG_SCHEMA: dict[str, pl.DataType] = {
    "measurement_id": pl.String(),
    "run_id": pl.String(),
    "asset_key": pl.String(),
    "dataset": pl.String(),
    "partition_key": pl.String(),
    "task": pl.String(),
    "started_at": pl.Datetime("us", "UTC"),
    "ended_at": pl.Datetime("us", "UTC"),
    "wall_s": pl.Float64(),
    "cpu_s": pl.Float64(),
    "peak_rss_mb": pl.Float64(),
    "energy_kwh": pl.Float64(),
    "cpu_energy_kwh": pl.Float64(),
    "ram_energy_kwh": pl.Float64(),
    "gpu_energy_kwh": pl.Float64(),
    "co2e_kg": pl.Float64(),
    "water_l": pl.Float64(),
    "status": pl.String(),
    "method": pl.String(),
    "measured": pl.Boolean(),
    "unmeasured_reason": pl.String(),
    "grid_country": pl.String(),
    "grid_intensity_g_per_kwh": pl.Float64(),
    "grid_intensity_source": pl.String(),
    "wue_onsite_l_per_kwh": pl.Float64(),
    "water_offsite_l_per_kwh": pl.Float64(),
    "hardware": pl.String(),
    "cpu_threads": pl.Int32(),
    "hostname": pl.String(),
}


class FootprintError(RuntimeError):
    """A measurement could not be taken; recorded as "unmeasured" with this message, never raised to the run."""


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
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
    """The footprint settings, read from the environment at each measurement (so a changed variable applies to
    the next run without a restart)."""

    method: str = DEFAULT_METHOD
    grid_country: str = DEFAULT_GRID_COUNTRY
    grid_intensity_override: float | None = None
    watts_per_thread: float = DEFAULT_WATTS_PER_CPU_THREAD
    watts_per_gb: float = DEFAULT_WATTS_PER_GB_RAM
    wue_onsite: float = DEFAULT_WUE_ONSITE_L_PER_KWH
    water_offsite: float = DEFAULT_WATER_OFFSITE_L_PER_KWH

    @classmethod
    def from_env(cls) -> "FootprintSettings":
        method = (os.environ.get("CDP_FOOTPRINT_METHOD") or DEFAULT_METHOD).strip().lower()
        if method not in METHODS:
            raise FootprintError(f"CDP_FOOTPRINT_METHOD={method!r}: expected one of {', '.join(METHODS)}")
        override = os.environ.get("CDP_GRID_CARBON_INTENSITY_G_PER_KWH", "").strip()
        return cls(
            method=method,
            grid_country=(os.environ.get("CDP_GRID_COUNTRY") or DEFAULT_GRID_COUNTRY).strip().upper(),
            grid_intensity_override=_env_float("CDP_GRID_CARBON_INTENSITY_G_PER_KWH", 0.0)
            if override
            else None,
            watts_per_thread=_env_float("CDP_FOOTPRINT_WATTS_PER_THREAD", DEFAULT_WATTS_PER_CPU_THREAD),
            watts_per_gb=_env_float("CDP_FOOTPRINT_WATTS_PER_GB", DEFAULT_WATTS_PER_GB_RAM),
            wue_onsite=_env_float("CDP_WUE_ONSITE_L_PER_KWH", DEFAULT_WUE_ONSITE_L_PER_KWH),
            water_offsite=_env_float("CDP_WATER_OFFSITE_L_PER_KWH", DEFAULT_WATER_OFFSITE_L_PER_KWH),
        )


@functools.cache
def grid_intensity(country: str) -> tuple[float, str]:
    """Carbon intensity of electricity (g CO2e/kWh) of an ISO 3166-1 alpha-3 country, and where it comes from:
    codecarbon's bundled per-country table (`global_energy_mix.json`, 2023) or its world average for `WORLD`."""
    from codecarbon.input import DataSource

    source = DataSource()
    if country == "WORLD":
        per_source = source.get_carbon_intensity_per_source_data()
        return float(per_source["world_average"]), "codecarbon world average (IEA 2019)"
    mix = source.get_global_energy_mix_data()
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
        """One row of the footprint log (columns of `LOG_SCHEMA`)."""
        row = {k: v for k, v in asdict(self).items() if k in LOG_SCHEMA}
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
    except OSError:  # pragma: no cover - non-Linux
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
    with contextlib.suppress(OSError):
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
    # CPU modes in which codecarbon reads a sensor rather than a constant
    MEASURED_CPU_MODES = {"intel_rapl", "intel_power_gadget", "apple_powermetrics", "windows_emi"}

    def __init__(self, settings: FootprintSettings) -> None:
        import logging

        from codecarbon import OfflineEmissionsTracker

        # codecarbon logs its hardware detection at INFO/WARNING; the chosen method is in our metadata instead.
        logging.getLogger("codecarbon").setLevel(logging.ERROR)
        # codecarbon's own CO2 figure is not used (ours is energy x the configured intensity), but its constructor
        # needs a country it knows.
        self.tracker = OfflineEmissionsTracker(
            country_iso_code=settings.grid_country if settings.grid_country != "WORLD" else "USA",
            tracking_mode="process",
            save_to_file=False,
            log_level="error",
            allow_multiple_runs=True,
        )

    def start(self) -> None:
        self.tracker.start()

    def stop(self, fp: Footprint) -> None:
        self.tracker.stop()
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
        except Exception:
            if rapl_domains():
                return _RaplMeter()
    return _CpuModelMeter(settings)


# ---------------------------------------------------------------------------------------------------------------
# where the measurement goes


def _context_identity(context, fp: Footprint) -> None:
    if context is None:
        return
    with contextlib.suppress(Exception):
        fp.run_id = context.run_id
    with contextlib.suppress(Exception):
        key = context.asset_key
        fp.asset_key = key.to_user_string()
        fp.dataset = context.assets_def.group_names_by_key.get(key) or ""
    if not fp.asset_key:  # an op, or a multi-asset: name it after the step
        with contextlib.suppress(Exception):
            fp.asset_key = context.op_handle.name if hasattr(context, "op_handle") else context.op.name
    with contextlib.suppress(Exception):
        if context.has_partition_key:
            fp.partition_key = context.partition_key


def _lake_of(context):
    """The lake to log to: the `lake` resource if the asset asked for it, else the lake of its IO manager (every
    asset has one), else the configured data root."""
    from dagster_project.storage import Lake

    if context is not None:
        resources = getattr(context, "resources", None)
        for candidate in (
            getattr(resources, "lake", None),
            getattr(getattr(resources, "io_manager", None), "lake", None),
        ):
            if isinstance(candidate, Lake):
                return candidate
    return Lake.from_env()


def log_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=LOG_SCHEMA)


def ensure_log_schema(lake) -> None:
    """Write the empty schema file of the footprint log if it is missing (see `LOG_SCHEMA_FILE`)."""
    if not lake.exists(LOG_SCHEMA_FILE):
        lake.write_parquet(log_frame([]), LOG_SCHEMA_FILE)


def append_to_log(lake, fp: Footprint) -> str:
    """Append one measurement: a new parquet file, written atomically, so concurrent steps never collide."""
    key = re.sub(r"[^A-Za-z0-9_.-]", "_", fp.asset_key or "unknown")
    relpath = f"{LOG_DIR}/{key}/{fp.measurement_id}.parquet"
    ensure_log_schema(lake)
    lake.write_parquet(log_frame([fp.record()]), relpath)
    return relpath


def read_log(lake) -> pl.DataFrame:
    """Every measurement in the footprint log (the schema file contributes no rows)."""
    files = [lake.relative(p) for p in lake.glob(f"{LOG_DIR}/**/*.parquet")]
    frames = [lake.read_parquet(f) for f in files]
    return pl.concat(frames, how="vertical_relaxed") if frames else log_frame([])


def _finish(fp: Footprint, meter, settings: FootprintSettings | None) -> None:
    """Energy from the meter, then carbon and water from the energy. Any failure → "unmeasured" with the reason."""
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
    except Exception as exc:  # never fail the run because of accounting
        fp.energy_kwh = fp.cpu_energy_kwh = fp.ram_energy_kwh = fp.gpu_energy_kwh = None
        fp.co2e_kg = fp.water_l = None
        fp.method, fp.measured = "unmeasured", False
        fp.unmeasured_reason = f"{type(exc).__name__}: {exc}"


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
    except Exception as exc:
        fp.unmeasured_reason = f"{type(exc).__name__}: {exc}"
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
        except Exception as exc:
            if settings.method == "auto" and not isinstance(meter, _CpuModelMeter):
                # a sensor that fails to start should not cost the figure: fall back to the documented model
                fp.notes["fallback_reason"] = f"{type(meter).__name__}: {type(exc).__name__}: {exc}"
                meter = _CpuModelMeter(settings)
            else:
                fp.unmeasured_reason, meter = f"{type(exc).__name__}: {exc}", None
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
            append_to_log(_lake_of(context), fp)
        except Exception as exc:
            fp.notes["log_error"] = f"{type(exc).__name__}: {exc}"
            if context is not None:
                with contextlib.suppress(Exception):
                    context.log.warning(f"footprint: could not append to the footprint log: {exc}")
        if context is not None:
            with contextlib.suppress(Exception):
                context.add_output_metadata(fp.metadata())
            if fp.status == "unmeasured":
                with contextlib.suppress(Exception):
                    context.log.warning(f"footprint of {task} unmeasured: {fp.unmeasured_reason}")


# ---------------------------------------------------------------------------------------------------------------
# the log as an asset (dbt's `platform.footprint_log` source points at it)

PLATFORM_GROUP = "platform"
FOOTPRINT_LOG_KEY = dg.AssetKey("platform_footprint_log")


def build_footprint_log_asset(upstream: list[dg.AssetKey]) -> dg.AssetsDefinition:
    """The footprint log as an asset downstream of every measured asset (models, evaluations, model cards), so
    the `platform_footprint` mart is rebuilt after them and lineage shows where its rows come from."""

    @dg.asset(
        key=FOOTPRINT_LOG_KEY,
        group_name=PLATFORM_GROUP,
        kinds={"parquet", "polars"},
        deps=sorted(set(upstream), key=lambda k: k.to_user_string()),
        required_resource_keys={"lake"},
    )
    def platform_footprint_log(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        """The footprint log: one parquet file per measured training or evaluation step (energy, CO2e, water,
        wall and CPU time, peak memory, method), appended by `measure_footprint` under `footprint/log/` on the
        data root. This asset makes sure the log is readable by dbt (an empty schema file when nothing was measured
        yet) and reports its totals; `platform_footprint` models it per asset, run and dataset."""
        lake = context.resources.lake
        ensure_log_schema(lake)
        log = read_log(lake)
        totals = log.select(
            pl.col("energy_kwh").sum(),
            pl.col("co2e_kg").sum(),
            pl.col("water_l").sum(),
            pl.col("wall_s").sum(),
        ).row(0, named=True)
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": log.height,
                "path": dg.MetadataValue.path(lake.url(LOG_DIR)),
                "unmeasured": int((log["status"] == "unmeasured").sum()) if log.height else 0,
                "total_energy_kwh": dg.MetadataValue.float(float(totals["energy_kwh"] or 0.0)),
                "total_co2e_kg": dg.MetadataValue.float(float(totals["co2e_kg"] or 0.0)),
                "total_water_l": dg.MetadataValue.float(float(totals["water_l"] or 0.0)),
                "total_wall_s": dg.MetadataValue.float(float(totals["wall_s"] or 0.0)),
            }
        )

    return platform_footprint_log
