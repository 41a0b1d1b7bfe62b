"""Text that native libraries write straight to the process's stderr (DALI's decoders print
"[ERROR] [jpeg_parser] ..." before kdaug has explained the bad file) goes to a log file, so
the screen shows kdaug's own line; Python's stderr (kdaug's errors, warnings, tracebacks of
bugs) still reaches the screen."""
from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

from kdaug.paths import cache_home


def log_path() -> Path:
    return cache_home() / "native-messages.log"


@contextlib.contextmanager
def native_stderr_to_log():
    path = log_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        log_fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    except OSError:  # no log to write to: leave stderr as it is
        yield
        return
    sys.stderr.flush()
    screen_fd = os.dup(2)
    screen = os.fdopen(screen_fd, "w", buffering=1, encoding=sys.stderr.encoding,
                       errors="backslashreplace")
    os.write(log_fd, f"--- pid {os.getpid()}: {' '.join(sys.argv)}\n".encode(errors="replace"))
    os.dup2(log_fd, 2)  # file descriptor 2, where C++ code writes, is now the log
    os.close(log_fd)
    python_stderr, sys.stderr = sys.stderr, screen
    try:
        yield
    finally:
        screen.flush()
        os.dup2(screen_fd, 2)
        sys.stderr = python_stderr
        screen.close()
