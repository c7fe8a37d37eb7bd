"""The run's dbt worker (`dagster_project/dbt_worker.py`): `cdp-dbt` is dbt, with or without a worker (output, exit
codes, effects); a command reuses the worker's parse only while it still describes the project and the command's
vars; a killed or interrupted `cdp-dbt` stops its command; the worker does not outlive its runner.

Real dbt processes on a small DuckDB project of the test's own, so what a test changes is its own."""

import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import psutil
import pytest

from dagster_project import settings
from dagster_project.dbt_worker import LAUNCHER, launcher, plain_dbt, running_worker

BOUND_S = 60


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "models").mkdir(parents=True)
    (root / "dbt_project.yml").write_text(
        'name: tiny\nversion: "1.0"\nprofile: tiny\nmodel-paths: ["models"]\nmacro-paths: ["macros"]\n'
    )
    (root / "profiles.yml").write_text(
        textwrap.dedent("""\
            tiny:
              target: dev
              outputs:
                dev:
                  type: duckdb
                  path: "{{ var('db') }}"
                  threads: 1
            """)
    )
    (root / "models" / "numbers.sql").write_text("select i from range({{ var('n', 3) }}) t(i)\n")
    # Seconds of work in DuckDB: what the tests stop while it runs (selected only there).
    (root / "models" / "slow.sql").write_text(
        "select sum(a.range * b.range) as s from range(200000) a, range(200000) b\n"
    )
    (root / "models" / "schema.yml").write_text(
        textwrap.dedent("""\
            version: 2
            models:
              - name: numbers
                description: some numbers
                columns:
                  - name: i
                    data_tests: [not_null, unique]
            """)
    )
    return root


def dbt_args(project: Path, target: str, **extra_vars) -> list[str]:
    vars_json = json.dumps({"db": str(project.parent / "tiny.duckdb"), **extra_vars})
    return [
        "--project-dir", str(project), "--profiles-dir", str(project), "--target-path", str(project / target),
        "--log-path", str(project / target), "--vars", vars_json,
    ]  # fmt: skip


def cdp_dbt(
    project: Path, *args: str, executable: str | None = None, **kwargs
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [executable or launcher(), *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=BOUND_S,
        stdin=subprocess.DEVNULL,
        **kwargs,
    )


def rows(project: Path, table: str) -> int:
    with duckdb.connect(str(project.parent / "tiny.duckdb"), read_only=True) as con:
        return con.execute(f"select count(*) from {table}").fetchone()[0]


def events(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def workers(processes: list[psutil.Process]) -> list[psutil.Process]:
    """Those of `processes` that are a dbt worker or one of its copies running a command (a worker's other child
    is multiprocessing's resource tracker)."""
    found = []
    for proc in processes:
        try:
            if "dagster_project.dbt_worker" in proc.cmdline():
                found.append(proc)
        except psutil.Error:  # exited meanwhile
            continue
    return found


def gone(proc: psutil.Process) -> bool:
    try:
        return proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def worker_process() -> psutil.Process:
    (worker,) = workers(psutil.Process().children())
    return worker


def wait_until(what: str, condition, bound_s: float = BOUND_S):
    deadline = time.monotonic() + bound_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"not within {bound_s} s: {what}")


def test_the_launcher_is_installed_and_is_plain_dbt_without_a_worker(project, monkeypatch):
    assert launcher() is not None and Path(launcher()).name == LAUNCHER
    monkeypatch.delenv(settings.DBT_WORKER_ENV, raising=False)
    plain = cdp_dbt(project, "--version", executable=plain_dbt())
    assert cdp_dbt(project, "--version").stdout == plain.stdout and plain.returncode == 0
    # A worker that is gone (its socket never answers): still plain dbt.
    monkeypatch.setenv(settings.DBT_WORKER_ENV, str(project / "no-such-socket"))
    built = cdp_dbt(project, "build", "--select", "numbers", *dbt_args(project, "t1"))
    assert built.returncode == 0, built.stdout[-2000:]
    assert rows(project, "numbers") == 3


def test_commands_reuse_the_worker_parse_only_while_it_describes_the_project(project):
    with running_worker() as up:
        assert up
        parse = cdp_dbt(project, "parse", *dbt_args(project, "parse"))
        assert parse.returncode == 0, parse.stdout[-2000:]

        built = cdp_dbt(
            project, "build", "--select", "numbers", "--log-format", "json", *dbt_args(project, "b1")
        )
        assert built.returncode == 0, built.stdout[-2000:]
        found = events(built.stdout)
        # dbt's own event stream, written by a copy of the worker (not by the launcher's process)
        assert any(e["info"]["name"] == "StatsLine" and "PASS=3" in e["info"]["msg"] for e in found)
        assert {e["info"]["pid"] for e in found} != {None}
        assert rows(project, "numbers") == 3
        # The parse was the worker's: the copy parsed nothing, so it left no partial parse behind, while dbt's
        # artifacts are all there.
        assert not (project / "b1" / "partial_parse.msgpack").exists()
        assert (project / "b1" / "manifest.json").exists() and (project / "b1" / "run_results.json").exists()

        # Other vars: not the parse the worker holds; the copy parses (and gets 7 rows).
        built = cdp_dbt(project, "build", "--select", "numbers", *dbt_args(project, "b2", n=7))
        assert built.returncode == 0, built.stdout[-2000:]
        assert (project / "b2" / "partial_parse.msgpack").exists()
        assert rows(project, "numbers") == 7

        # A changed model file: the held parse is stale; the copy parses and builds the new SQL.
        (project / "models" / "numbers.sql").write_text("select i from range(5) t(i)\n")
        built = cdp_dbt(project, "build", "--select", "numbers", *dbt_args(project, "b3"))
        assert built.returncode == 0, built.stdout[-2000:]
        assert (project / "b3" / "partial_parse.msgpack").exists()
        assert rows(project, "numbers") == 5


def test_exit_codes_and_errors_are_dbts(project, monkeypatch):
    (project / "models" / "numbers.sql").write_text(
        "select case when i = 1 then null else i end as i from range(3) t(i)\n"
    )
    monkeypatch.delenv(settings.DBT_WORKER_ENV, raising=False)
    plain_failed = cdp_dbt(
        project, "build", "--select", "numbers", *dbt_args(project, "p1"), executable=plain_dbt()
    )
    plain_usage = cdp_dbt(project, "build", "--no-such-flag", executable=plain_dbt())
    with running_worker():
        failed = cdp_dbt(project, "build", "--select", "numbers", *dbt_args(project, "w1"))
        usage = cdp_dbt(project, "build", "--no-such-flag")
    assert (
        (failed.returncode, usage.returncode) == (plain_failed.returncode, plain_usage.returncode) == (1, 2)
    )
    assert "not_null_numbers_i" in failed.stdout and "FAIL 1" in failed.stdout
    assert "no-such-flag" in usage.stderr + usage.stdout


@pytest.mark.parametrize("how", ["SIGKILL", "SIGINT"])
def test_a_killed_or_interrupted_launcher_stops_its_command(project, how):
    with running_worker():
        worker = worker_process()
        proc = subprocess.Popen(
            [launcher(), "run", "--select", "slow", *dbt_args(project, "slow")],
            cwd=project,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        try:
            (copy,) = wait_until("the command's copy runs", lambda: workers(worker.children()))
            wait_until("the slow model runs", lambda: (project / "slow" / "run").exists())
            proc.send_signal(getattr(signal, how))
            out, _ = proc.communicate(timeout=BOUND_S)
            wait_until("the copy is gone", lambda: gone(copy), 15)
        finally:
            proc.kill()
    if how == "SIGINT":  # dbt's own handling of Ctrl-C: it says so and exits with an error
        assert proc.returncode not in (0, None)
        assert b"slow" in out
    else:
        assert proc.returncode == -signal.SIGKILL


def test_the_worker_does_not_outlive_its_runner(tmp_path):
    code = textwrap.dedent("""\
        import sys, time
        from dagster_project import settings
        from dagster_project.dbt_worker import running_worker
        with running_worker() as up:
            print(settings.dbt_worker_socket(), flush=True)
            time.sleep(120)
        """)
    runner = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=settings.REPO_ROOT
    )
    try:
        socket_path = Path(runner.stdout.readline().strip())
        (worker,) = workers(psutil.Process(runner.pid).children())
        assert socket_path.exists()
        runner.kill()
        runner.wait()
        wait_until("the worker exits", lambda: gone(worker), 15)
        assert not socket_path.parent.exists()  # it removed its socket and folder itself
    finally:
        runner.kill()
