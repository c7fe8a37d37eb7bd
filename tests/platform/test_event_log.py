"""The runner's cheaper SQLite event log (dagster_project/event_log.py): same events, visible to other readers while
the run goes on, nothing left behind, and nothing changed outside the context."""

import os
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.storage.event_log import SqliteEventLogStorage

from dagster_project import event_log
from dagster_project.event_log import LocalEventLogStorage, faster_event_log

REPO = Path(__file__).resolve().parents[2]


@dg.asset(check_specs=[dg.AssetCheckSpec("positive", asset="tiny")])
def tiny():
    yield dg.Output(1, metadata={"dagster/row_count": 1})
    yield dg.AssetCheckResult(check_name="positive", passed=True)


@pytest.fixture
def instance(tmp_path):
    with dg.instance_for_test(temp_dir=str(tmp_path)) as inst:
        yield inst


def _synchronous(instance) -> int:
    with instance.event_log_storage.index_connection() as conn:  # a connection as every event write opens one
        return conn.exec_driver_sql("pragma synchronous").scalar()


def _stored_types(instance, run_id: str) -> list[str]:
    return [
        r.event_log_entry.dagster_event_type for r in instance.get_records_for_run(run_id, limit=1000).records
    ]


def test_events_are_stored_and_readable_by_another_instance_meanwhile(instance, tmp_path):
    index = instance.event_log_storage.path_for_shard("index")
    with faster_event_log(instance):
        result = dg.materialize([tiny], instance=instance)
        assert _synchronous(instance) == 1  # NORMAL while the runner materialises
        # another process's view (e.g. the webserver's) sees the materialisation and check before the end
        with dg.DagsterInstance.from_ref(instance.get_ref()) as other:
            latest = other.get_latest_materialization_event(dg.AssetKey("tiny"))
            assert latest is not None and latest.run_id == result.run_id
            check = other.event_log_storage.get_latest_asset_check_execution_by_key(
                [dg.AssetCheckKey(dg.AssetKey("tiny"), "positive")]
            )
            assert list(check.values())[0].run_id == result.run_id
        assert os.path.exists(index + "-wal")  # the held connection keeps the WAL open
    assert not os.path.exists(index + "-wal")  # folded back into index.db when it ends
    assert _synchronous(instance) == 2  # SQLite's default (FULL) again outside the context
    # the same events as a run without it
    plain = dg.materialize([tiny], instance=instance)
    assert _stored_types(instance, result.run_id) == _stored_types(instance, plain.run_id)
    assert "ASSET_CHECK_EVALUATION" in _stored_types(instance, result.run_id)


def test_any_other_event_log_storage_is_left_alone():
    inst = dg.DagsterInstance.ephemeral()  # in-memory event log
    with faster_event_log(inst):
        result = dg.materialize([tiny], instance=inst)
    assert result.success and inst.get_latest_materialization_event(dg.AssetKey("tiny")) is not None


@pytest.fixture
def local_instance(tmp_path, monkeypatch):
    """An instance as `make run` and `make ui` create it: DAGSTER_HOME with the shipped dagster.yaml."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text((REPO / "deploy" / "local" / "dagster.yaml").read_text())
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.get() as inst:
        yield inst


def test_the_shipped_instance_writes_dagsters_own_files_with_one_engine_per_database(
    local_instance, tmp_path
):
    storage = local_instance.event_log_storage
    assert isinstance(storage, LocalEventLogStorage)
    assert storage.path_for_shard("index") == str(tmp_path / "home" / "history" / "runs" / "index.db")
    result = dg.materialize([tiny], instance=local_instance)
    again = dg.materialize([tiny], instance=local_instance)
    assert result.success and again.success
    # one engine per database file (the index and each run), not one per stored event
    assert sorted(storage._engines) == sorted(["index", result.run_id, again.run_id])
    assert _synchronous(local_instance) == 1  # NORMAL on its own connections
    # Dagster's default storage reads the same files: the same events, the check and the materialisation
    (tmp_path / "plain").mkdir()
    with dg.instance_for_test(
        temp_dir=str(tmp_path / "plain"),
        overrides={
            "event_log_storage": {
                "module": "dagster._core.storage.event_log",
                "class": "SqliteEventLogStorage",
                "config": {"base_dir": str(tmp_path / "home" / "history" / "runs")},
            }
        },
    ) as reader:
        assert type(reader.event_log_storage) is SqliteEventLogStorage
        assert _stored_types(reader, result.run_id) == _stored_types(local_instance, result.run_id)
        assert "ASSET_CHECK_EVALUATION" in _stored_types(reader, result.run_id)
        latest = reader.get_latest_materialization_event(dg.AssetKey("tiny"))
        assert latest is not None and latest.run_id == again.run_id
        check = reader.event_log_storage.get_latest_asset_check_execution_by_key(
            [dg.AssetCheckKey(dg.AssetKey("tiny"), "positive")]
        )
        assert list(check.values())[0].run_id == again.run_id


def test_engines_are_bounded_and_an_evicted_run_stays_readable(local_instance, monkeypatch):
    monkeypatch.setattr(event_log, "MAX_ENGINES", 2)
    runs = [dg.materialize([tiny], instance=local_instance).run_id for _ in range(3)]
    storage = local_instance.event_log_storage
    assert len(storage._engines) == 2 and runs[0] not in storage._engines
    assert "ASSET_CHECK_EVALUATION" in _stored_types(local_instance, runs[0])  # reopened on demand
    local_instance.dispose()
    assert storage._engines == {}
