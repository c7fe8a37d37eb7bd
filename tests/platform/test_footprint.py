"""Footprint accounting: plausible, self-consistent figures for a real fit; "unmeasured" (never a failed run) when
measurement breaks; numeric metadata and one log file per measurement; the dbt mart's totals equal the log."""

import math

import dagster as dg
import duckdb
import numpy as np
import polars as pl
import pytest

from dagster_project import footprint
from dagster_project.footprint import (
    DEFAULT_WATER_OFFSITE_L_PER_KWH,
    DEFAULT_WUE_ONSITE_L_PER_KWH,
    grid_intensity,
    measure_footprint,
    read_log,
)
from dagster_project.io_managers import LakeIOManager
from dagster_project.storage import Lake


def _fit() -> None:
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression

    X, y = make_classification(n_samples=4000, n_features=40, random_state=0)
    LogisticRegression(max_iter=500).fit(X, y)


def _assert_consistent(fp, intensity: float) -> None:
    assert fp.energy_kwh > 0 and fp.cpu_s > 0 and fp.wall_s > 0 and fp.peak_rss_mb > 0
    assert fp.co2e_kg == pytest.approx(fp.energy_kwh * intensity / 1000, rel=1e-9)
    water_per_kwh = DEFAULT_WUE_ONSITE_L_PER_KWH + DEFAULT_WATER_OFFSITE_L_PER_KWH
    assert fp.water_l == pytest.approx(fp.energy_kwh * water_per_kwh, rel=1e-9)


def test_every_model_and_evaluation_asset_measures_its_footprint():
    """Datasets landing later are held to it too: every model and evaluation asset (as the model cards find them)
    calls `measure_footprint` in its body."""
    import inspect

    from dagster_project.datasets import load_datasets
    from dagster_project.model_cards import find_model_pairs

    missing, checked = [], 0
    for ds in load_datasets():
        assets = list(ds.defs.assets or [])
        wanted = {k for p in find_model_pairs(assets) for k in (p.model, p.evaluation)}
        for a in assets:
            for key in set(a.keys) & wanted:
                checked += 1
                if "measure_footprint(" not in inspect.getsource(a.op.compute_fn.decorated_fn):
                    missing.append(key.to_user_string())
    assert checked and not missing, (
        f"wrap the fit/predict of {missing} in measure_footprint(context, task=...)"
    )


def test_real_fit_gives_plausible_self_consistent_figures(tmp_path, monkeypatch, footprint_defaults):
    monkeypatch.setenv("CDP_DATA_ROOT", str(tmp_path / "lake"))
    with measure_footprint(None, task="training") as fp:
        _fit()
    usa, source = grid_intensity("USA")
    assert fp.grid_country == "USA" and fp.grid_intensity_g_per_kwh == usa and "global_energy_mix" in source
    _assert_consistent(fp, usa)
    # Plausible for a sub-minute fit on a few threads: under 1 kW on average, and not more CPU than threads allow.
    assert fp.energy_kwh * 3.6e6 / fp.wall_s < 1000
    assert fp.cpu_s <= fp.wall_s * fp.cpu_threads * 1.2 + 0.5
    if footprint.rapl_domains():
        assert fp.status == "measured"
    else:  # the documented model, no sensor on this machine
        assert fp.status == "modelled" and fp.method.startswith("cpu_model")
        expected = (fp.cpu_s * 4.0 + fp.wall_s * fp.peak_rss_mb / 1024 * 0.3725) / 3.6e6
        assert fp.energy_kwh == pytest.approx(expected, rel=1e-9)
    log = read_log(Lake(root=str(tmp_path / "lake")))
    assert log.height == 1
    row = log.row(0, named=True)
    assert row["measurement_id"] == fp.measurement_id and row["energy_kwh"] == fp.energy_kwh
    assert row["status"] == fp.status and row["co2e_kg"] == fp.co2e_kg


def test_grid_settings_country_world_and_override(tmp_path, monkeypatch, footprint_defaults):
    monkeypatch.setenv("CDP_DATA_ROOT", str(tmp_path / "lake"))
    monkeypatch.setenv("CDP_GRID_COUNTRY", "fra")
    with measure_footprint(None) as fp:
        np.linalg.svd(np.random.default_rng(0).random((300, 300)))
    fra, _ = grid_intensity("FRA")
    assert fp.grid_country == "FRA" and fra < grid_intensity("USA")[0]
    _assert_consistent(fp, fra)
    assert grid_intensity("WORLD")[0] == 475

    monkeypatch.setenv("CDP_GRID_CARBON_INTENSITY_G_PER_KWH", "100")
    with measure_footprint(None) as fp:
        np.linalg.svd(np.random.default_rng(0).random((300, 300)))
    assert fp.grid_intensity_source == "CDP_GRID_CARBON_INTENSITY_G_PER_KWH"
    _assert_consistent(fp, 100.0)

    monkeypatch.delenv("CDP_GRID_CARBON_INTENSITY_G_PER_KWH")
    monkeypatch.setenv("CDP_GRID_COUNTRY", "ATLANTIS")
    with measure_footprint(None) as fp:
        pass
    assert fp.status == "unmeasured" and fp.energy_kwh is None and fp.co2e_kg is None
    assert "CDP_GRID_COUNTRY='ATLANTIS'" in fp.unmeasured_reason
    assert fp.wall_s >= 0 and fp.cpu_s >= 0  # times are still recorded


def test_codecarbon_method_says_what_it_measured(tmp_path, monkeypatch, footprint_defaults):
    monkeypatch.setenv("CDP_DATA_ROOT", str(tmp_path / "lake"))
    monkeypatch.setenv("CDP_FOOTPRINT_METHOD", "codecarbon")
    with measure_footprint(None, task="training") as fp:
        _fit()
    assert fp.method.startswith("codecarbon") and "process mode" in fp.method
    _assert_consistent(fp, grid_intensity("USA")[0])
    if not footprint.rapl_domains() and not footprint.nvidia_gpu_present():
        # without sensors codecarbon only applies constants: it must not be reported as a measurement
        assert fp.status == "modelled" and "cpu_load" in fp.method


@dg.asset
def tiny_model(context: dg.AssetExecutionContext) -> dict:
    """A stand-in training asset."""
    with measure_footprint(context, task="training"):
        weights = np.linalg.lstsq(np.eye(50), np.ones(50), rcond=None)[0]
    return {"weights": weights.tolist()}


def test_forced_measurement_failure_is_unmeasured_and_the_run_succeeds(
    tmp_path, monkeypatch, footprint_defaults
):
    lake = Lake(root=str(tmp_path / "lake"))

    def broken(self, fp):
        raise OSError("power sensor vanished")

    monkeypatch.setattr(footprint.meters._CpuModelMeter, "stop", broken)
    monkeypatch.setattr(
        footprint.meters, "rapl_domains", lambda root=None: []
    )  # the model meter, also on RAPL hosts
    monkeypatch.setattr(footprint.meters, "nvidia_gpu_present", lambda: False)
    result = dg.materialize([tiny_model], resources={"io_manager": LakeIOManager(lake=lake)})
    assert result.success
    md = result.asset_materializations_for_node("tiny_model")[0].metadata
    assert md["footprint/status"].value == "unmeasured"
    assert md["footprint/unmeasured_reason"].value == "OSError: power sensor vanished"
    assert "footprint/energy_kwh" not in md and md["footprint/wall_s"].value >= 0
    log = read_log(lake)  # the failure is logged too, through the IO manager's lake
    assert log["status"].to_list() == ["unmeasured"] and log["asset_key"].to_list() == ["tiny_model"]
    assert log["run_id"].to_list() == [result.run_id]

    monkeypatch.setenv("CDP_FOOTPRINT_METHOD", "bogus")  # a bad setting is reported, not raised
    result = dg.materialize([tiny_model], resources={"io_manager": LakeIOManager(lake=lake)})
    assert result.success
    md = result.asset_materializations_for_node("tiny_model")[0].metadata
    assert "CDP_FOOTPRINT_METHOD='bogus'" in md["footprint/unmeasured_reason"].value


@dg.asset(check_specs=[dg.AssetCheckSpec("weights_finite", asset="tiny_checked_model", blocking=True)])
def tiny_checked_model(context: dg.AssetExecutionContext):
    """A stand-in training asset with a blocking check: a step with two outputs."""
    with measure_footprint(context, task="training"):
        weights = np.linalg.lstsq(np.eye(20), np.ones(20), rcond=None)[0]
    yield dg.Output({"weights": weights.tolist()})
    yield dg.AssetCheckResult(check_name="weights_finite", passed=bool(np.isfinite(weights).all()))


def test_asset_with_checks_gets_its_footprint_metadata(tmp_path, footprint_defaults):
    """A step with check specs refuses output metadata without an output name; the figures still reach the
    asset's own output."""
    lake = Lake(root=str(tmp_path / "lake"))
    result = dg.materialize([tiny_checked_model], resources={"io_manager": LakeIOManager(lake=lake)})
    assert result.success
    md = result.asset_materializations_for_node("tiny_checked_model")[0].metadata
    assert md["footprint/status"].value in ("measured", "modelled")
    assert md["footprint/energy_kwh"].value == read_log(lake)["energy_kwh"].to_list()[0]


def test_unwritable_log_is_reported_not_raised(tmp_path, monkeypatch, footprint_defaults):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the lake's folders should be")
    monkeypatch.setattr(footprint.log, "lake_of", lambda context: Lake(root=str(blocker)))
    with measure_footprint(None, task="training") as fp:
        np.linalg.svd(np.random.default_rng(0).random((50, 50)))
    assert fp.status in ("measured", "modelled") and fp.energy_kwh > 0  # the figures survive
    error = fp.notes["log_error"]
    assert error.split(":")[0] in {"FileExistsError", "NotADirectoryError"}, error
    assert fp.metadata()["footprint/log_error"] == error


def test_log_appends_are_safe_on_s3_and_under_concurrency(lake_s3, monkeypatch, footprint_defaults):
    from concurrent.futures import ThreadPoolExecutor

    result = dg.materialize([tiny_model], resources={"io_manager": LakeIOManager(lake=lake_s3)})
    assert result.success
    monkeypatch.setattr(footprint.log, "lake_of", lambda context: lake_s3)

    def measure(i: int) -> str:
        with measure_footprint(None, task=f"t{i}") as fp:
            np.linalg.svd(np.random.default_rng(i).random((100, 100)))
        return fp.measurement_id

    with ThreadPoolExecutor(4) as pool:
        ids = list(pool.map(measure, range(8)))
    log = read_log(lake_s3)
    assert log.height == 9 and len(set(log["measurement_id"])) == 9 and set(ids) <= set(log["measurement_id"])
    assert lake_s3.exists(footprint.LOG_SCHEMA_FILE)


def test_every_training_and_evaluation_materialisation_is_logged(platform_run):
    report, lake = platform_run["report"], platform_run["lake"]
    assert report.success, report.failures
    log = read_log(lake)
    measured_keys = set()
    for result in report.results:
        for ev in result.get_asset_materialization_events():
            md = ev.materialization.metadata
            if "footprint/status" not in md:
                continue
            key = ev.asset_key.to_user_string()
            measured_keys.add(key)
            assert md["footprint/status"].value in ("measured", "modelled")
            for name in ("energy_kwh", "co2e_kg", "water_l", "wall_s", "cpu_s"):
                assert isinstance(md[f"footprint/{name}"], dg.FloatMetadataValue), name  # plotted by the UI
            rows = log.filter((pl.col("asset_key") == key) & (pl.col("run_id") == result.run_id))
            assert rows.height >= 1
            # the metadata shows the asset's (last) measurement; the log has every measurement
            assert md["footprint/energy_kwh"].value in rows["energy_kwh"].to_list()
    for name in platform_run["datasets"]:
        assert any(k.startswith(name) and k.endswith("evaluation") for k in measured_keys), name
        assert set(log.filter(pl.col("asset_key").str.starts_with(name))["dataset"]) == {name}


def test_footprint_mart_totals_equal_the_log(platform_run):
    log = read_log(platform_run["lake"])
    with duckdb.connect(platform_run["warehouse"], read_only=True) as con:
        mart = pl.from_arrow(con.sql("select * from platform_footprint").arrow())
    total = mart.filter(pl.col("level") == "total").row(0, named=True)
    assert total["measurements"] == log.height > 0
    for col in ("energy_kwh", "co2e_kg", "water_l", "wall_s", "cpu_s"):
        assert math.isclose(total[col], log[col].fill_null(0).sum(), rel_tol=1e-9), col
    per_dataset = mart.filter(pl.col("level") == "dataset")
    assert per_dataset["energy_kwh"].sum() == pytest.approx(total["energy_kwh"], rel=1e-9)
    per_asset = mart.filter(pl.col("level") == "asset").sort("asset_key")
    expected = log.group_by("asset_key").agg(pl.col("co2e_kg").sum()).sort("asset_key")
    assert per_asset["asset_key"].to_list() == expected["asset_key"].to_list()
    assert per_asset["co2e_kg"].to_list() == pytest.approx(expected["co2e_kg"].to_list(), rel=1e-9)
    assert set(mart["level"]) == {"asset_run", "asset", "run", "dataset", "total"}
