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

Two modules: `meters.py` measures (settings, RAPL / codecarbon / CPU-time model, carbon and water,
`measure_footprint`), `log.py` stores (the parquet log on the lake and the `platform_footprint_log` asset). The names
below are the package's public interface; import them from `dagster_project.footprint`.
"""

from dagster_project.footprint.log import (
    FOOTPRINT_LOG_KEY,
    LOG_DIR,
    LOG_SCHEMA,
    LOG_SCHEMA_FILE,
    PLATFORM_GROUP,
    append_to_log,
    build_footprint_log_asset,
    ensure_log_schema,
    lake_of,
    log_frame,
    read_log,
)
from dagster_project.footprint.meters import (
    DEFAULT_GRID_COUNTRY,
    DEFAULT_METHOD,
    DEFAULT_WATER_OFFSITE_L_PER_KWH,
    DEFAULT_WATTS_PER_CPU_THREAD,
    DEFAULT_WATTS_PER_GB_RAM,
    DEFAULT_WUE_ONSITE_L_PER_KWH,
    METHODS,
    RAPL_ROOT,
    Footprint,
    FootprintError,
    FootprintSettings,
    cpu_description,
    grid_intensity,
    measure_footprint,
    nvidia_gpu_present,
    rapl_domains,
)

__all__ = [
    "DEFAULT_GRID_COUNTRY",
    "DEFAULT_METHOD",
    "DEFAULT_WATER_OFFSITE_L_PER_KWH",
    "DEFAULT_WATTS_PER_CPU_THREAD",
    "DEFAULT_WATTS_PER_GB_RAM",
    "DEFAULT_WUE_ONSITE_L_PER_KWH",
    "FOOTPRINT_LOG_KEY",
    "LOG_DIR",
    "LOG_SCHEMA",
    "LOG_SCHEMA_FILE",
    "METHODS",
    "PLATFORM_GROUP",
    "RAPL_ROOT",
    "Footprint",
    "FootprintError",
    "FootprintSettings",
    "append_to_log",
    "build_footprint_log_asset",
    "cpu_description",
    "ensure_log_schema",
    "grid_intensity",
    "lake_of",
    "log_frame",
    "measure_footprint",
    "nvidia_gpu_present",
    "rapl_domains",
    "read_log",
]
