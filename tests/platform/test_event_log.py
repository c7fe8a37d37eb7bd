"""The runner's cheaper SQLite event log (dagster_project/event_log.py): same events, visible to other readers while
the run goes on, nothing left behind, and nothing changed outside the context."""

import os
import time

import dagster as dg
import pytest
from dagster._core.storage.event_log import SqliteEventLogStorage

from dagster_project.event_log import faster_event_log


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
    with faster_event_log(instance) as engines:
        result = dg.materialize([tiny], instance=instance)
        again = dg.materialize([tiny], instance=instance)
        # one engine per database file (the index and each run), not one per stored event
        assert sorted(engines) == sorted(["index", result.run_id, again.run_id])
        assert _synchronous(instance) == 1  # NORMAL while the runner materialises
        # another process's view (e.g. the webserver's) sees the materialisation and check before the end
        with dg.DagsterInstance.from_ref(instance.get_ref()) as other:
            latest = other.get_latest_materialization_event(dg.AssetKey("tiny"))
            assert latest is not None and latest.run_id == again.run_id
            check = other.event_log_storage.get_latest_asset_check_execution_by_key(
                [dg.AssetCheckKey(dg.AssetKey("tiny"), "positive")]
            )
            assert list(check.values())[0].run_id == again.run_id
        assert os.path.exists(index + "-wal")  # the held connection keeps the WAL open
    assert not os.path.exists(index + "-wal")  # folded back into index.db when it ends
    assert _synchronous(instance) == 2  # SQLite's default (FULL) again outside the context
    storage = instance.event_log_storage
    assert "_connect" not in vars(storage) and "has_table" not in vars(storage)  # Dagster's own methods again
    assert type(storage) is SqliteEventLogStorage
    # the same events as a run without it
    plain = dg.materialize([tiny], instance=instance)
    assert _stored_types(instance, result.run_id) == _stored_types(instance, plain.run_id)
    assert "ASSET_CHECK_EVALUATION" in _stored_types(instance, result.run_id)


def test_a_watcher_of_a_run_sees_each_event_as_it_is_stored(instance):
    """The webserver follows a live run by watching the run's database file (Dagster's SQLite watchdog): it still
    hears of every write although the runner's connection to that file stays open (no checkpoint per event)."""
    seen: list[str] = []
    with faster_event_log(instance):
        run = dg.materialize([tiny], instance=instance)
        dagster_run = instance.get_run_by_id(run.run_id)
        with dg.DagsterInstance.from_ref(instance.get_ref()) as other:  # the webserver's instance
            cursor = other.get_records_for_run(run.run_id, limit=1000).cursor
            other.event_log_storage.watch(
                run.run_id, cursor, lambda entry, _cursor: seen.append(entry.message)
            )
            try:
                for i in range(3):
                    instance.report_engine_event(f"event {i}", dagster_run)
                    deadline = time.monotonic() + 20
                    while f"event {i}" not in seen and time.monotonic() < deadline:
                        time.sleep(0.05)
                    assert f"event {i}" in seen, f"the watcher did not hear of event {i}: {seen}"
            finally:
                other.event_log_storage.end_watch(run.run_id, seen.append)
                other.event_log_storage.dispose()
    assert seen == ["event 0", "event 1", "event 2"]


def test_any_other_event_log_storage_is_left_alone():
    inst = dg.DagsterInstance.ephemeral()  # in-memory event log
    with faster_event_log(inst):
        result = dg.materialize([tiny], instance=inst)
    assert result.success and inst.get_latest_materialization_event(dg.AssetKey("tiny")) is not None


def test_nested_contexts_leave_the_outer_one_working(instance):
    with faster_event_log(instance) as outer:
        with faster_event_log(instance) as inner:
            dg.materialize([tiny], instance=instance)
        assert inner == {} and "index" in outer
        assert dg.materialize([tiny], instance=instance).success
    assert "_connect" not in vars(instance.event_log_storage)
