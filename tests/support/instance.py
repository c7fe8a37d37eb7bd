"""The Dagster instance the end-to-end tests materialise into: a temporary folder with the event log storage of the
shipped embedded config (`deploy/local/dagster.yaml`, what `make run` and `make ui` use), so the tests store their
events the way users' runs do."""

from pathlib import Path

import dagster as dg
import yaml

SHIPPED = Path(__file__).resolve().parents[2] / "deploy" / "local" / "dagster.yaml"


def temp_instance(home: Path) -> dg.DagsterInstance:
    home.mkdir(parents=True, exist_ok=True)
    event_log = dict(yaml.safe_load(SHIPPED.read_text())["event_log_storage"])
    # its default base_dir comes from DAGSTER_HOME, which a test's instance does not use
    event_log["config"] = {"base_dir": str(home / "history" / "runs")}
    return dg.DagsterInstance.local_temp(
        tempdir=str(home), overrides={"telemetry": {"enabled": False}, "event_log_storage": event_log}
    )
