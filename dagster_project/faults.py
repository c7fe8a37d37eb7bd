"""The fault-injection tests' hook: a writer can be made to stop at a named point (just before it commits a file)
so that a test can SIGKILL the run there. Inert unless `CDP_TEST_PAUSE_AT` is set (see settings.fault_pause_point).
Kept apart from recovery.py so that storage can call it without importing the crash-safety machinery."""

import fnmatch
import os
import time
from pathlib import Path

from dagster_project import settings

PAUSE_ENV = "CDP_TEST_PAUSE_AT"
PAUSE_MARKER_ENV = "CDP_TEST_PAUSE_MARKER"


def pause_point(name: str) -> None:
    """Block forever at `name` if `CDP_TEST_PAUSE_AT` matches it (fault-injection tests only; inert otherwise)."""
    pattern, marker = settings.fault_pause_point()
    if not pattern or not fnmatch.fnmatchcase(name, pattern):
        return
    if marker:
        Path(marker).write_text(f"{os.getpid()} {name}\n")
    print(f"{PAUSE_ENV}: paused at {name} (pid {os.getpid()})", flush=True)
    while True:
        time.sleep(3600)
