"""The command line's own output: progress, warnings, errors and the summary on the terminal; everything else
(Dagster's event stream, dbt's logs, library warnings, step subprocesses) in a log file whose path is printed.

Redirection happens at the file-descriptor level, so output from child processes (dbt, the multiprocess
executor's steps) and from C extensions lands in the log too, not only what Python's `logging` sees.
`verbose=True` (`python -m dagster_project run -v`) leaves the terminal as it is and logs nothing extra.
"""

import os
import sys
import time
from pathlib import Path
from typing import TextIO


class Console:
    def __init__(self, verbose: bool = False, log_path: Path | None = None):
        self.verbose = verbose
        self.log_path = None if verbose else log_path
        self._terminal: TextIO = sys.stdout
        self._saved_fds: tuple[int, int] | None = None
        self._last_progress_len = 0

    def __enter__(self) -> "Console":
        if self.log_path is None:
            return self
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        sys.stdout.flush()
        sys.stderr.flush()
        saved_out, saved_err = os.dup(1), os.dup(2)
        self._saved_fds = (saved_out, saved_err)
        # The terminal keeps its own stream; fds 1 and 2 (inherited by every child process) go to the log.
        self._terminal = os.fdopen(os.dup(saved_out), "w", buffering=1)
        log_fd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        os.close(log_fd)
        self.say(f"full logs: {self.log_path}")
        return self

    def __exit__(self, *exc) -> None:
        self._end_progress()
        if self._saved_fds is None:
            return
        sys.stdout.flush()
        sys.stderr.flush()
        out, err = self._saved_fds
        os.dup2(out, 1)
        os.dup2(err, 2)
        os.close(out)
        os.close(err)
        self._saved_fds = None
        self._terminal.close()
        self._terminal = sys.stdout

    @property
    def quiet(self) -> bool:
        return self._saved_fds is not None

    def say(self, message: str) -> None:
        """A line for the person at the terminal (also copied into the log)."""
        self._end_progress()
        print(message, file=self._terminal, flush=True)
        if self.quiet:
            print(message, flush=True)

    def progress(self, done: int, total: int, label: str) -> None:
        """A progress bar on a terminal (redrawn in place), one line per step elsewhere (CI logs, pipes)."""
        width = 24
        filled = int(width * done / max(total, 1))
        line = f"    [{'#' * filled}{'.' * (width - filled)}] {done}/{total} {label}"
        if self.quiet:
            print(line, flush=True)
        if self._terminal.isatty():
            pad = " " * max(0, self._last_progress_len - len(line))
            self._terminal.write("\r" + line + pad)
            self._terminal.flush()
            self._last_progress_len = len(line)
            if done >= total:
                self._end_progress()
        else:
            print(line, file=self._terminal, flush=True)

    def _end_progress(self) -> None:
        if self._last_progress_len:
            self._terminal.write("\n")
            self._terminal.flush()
            self._last_progress_len = 0


def default_log_path(home: Path) -> Path:
    return home / "logs" / f"run-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
