"""Run directories: created with one clear line when they cannot be, taken by one run at a
time, and named by default after everything that changes a run's result."""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
from pathlib import Path
from typing import Optional

from kdaug.errors import KdaugError

LOCK_FILE = ".lock"
# configuration fields that do not change what a run computes
NOT_IN_FINGERPRINT = ("run_dir", "resume", "allow_changes", "quiet", "cache_dir")


def fingerprint(cfg) -> str:
    """8 hex digits of every configuration value that changes the result (paths made absolute,
    so that the same data named from two places is one configuration)."""
    values = {k: v for k, v in cfg.to_dict().items() if k not in NOT_IN_FINGERPRINT}
    for key in ("data_dir", "teacher_checkpoint"):
        if values.get(key):
            values[key] = os.path.abspath(values[key])
    text = json.dumps(values, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:8]


class RunLock:
    """An exclusive flock on RUN_DIR/.lock. The kernel drops it when the process ends, however
    it ends (kill -9 included), so a lock is never left behind by a dead run."""

    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)
        make_run_dir(self.run_dir)
        path = self.run_dir / LOCK_FILE
        try:
            self._fd: Optional[int] = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise KdaugError(f"run directory {self.run_dir} is not writable: "
                             f"{exc.strerror or exc}") from None
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(self._fd, 32).decode(errors="replace").strip()
            self.release()
            who = f" (pid {holder})" if holder.isdigit() else ""
            raise KdaugError(f"run directory {self.run_dir} is in use by another run{who}: "
                             f"wait for it to end, or pass another --run-dir") from None
        os.ftruncate(self._fd, 0)
        os.write(self._fd, f"{os.getpid()}\n".encode())

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def make_run_dir(run_dir: Path) -> None:
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise KdaugError(f"run directory {run_dir} is a file") from None
    except NotADirectoryError:
        blocker = next((p for p in run_dir.parents if p.is_file()), None)
        raise KdaugError(f"run directory {run_dir} cannot be created: {blocker} is a file") from None
    except OSError as exc:
        raise KdaugError(f"run directory {run_dir} cannot be created: "
                         f"{exc.strerror or exc}") from None
