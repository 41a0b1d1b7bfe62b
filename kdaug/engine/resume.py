"""Resuming continues the same run: the configuration a checkpoint was trained with is compared
with the new one, and the teacher is the one the run started with (same file, same content)."""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Dict, List, Optional

from kdaug.errors import KdaugError

# a change of any of these makes another run: never resumed
IDENTITY = ("dataset", "few_shot", "method", "trained_arch", "views", "view_family", "jda",
            "policy", "backend", "seed", "hp")
# a change of these continues the same run with another recipe: only with --allow-changes
RECIPE = ("data_dir", "preset", "epochs", "batch_size", "lr", "momentum", "nesterov",
          "weight_decay", "milestones", "gamma", "clip_grad", "amp", "channels_last",
          "limit_batches")


def file_sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def recorded(state: dict) -> Dict:
    """What a checkpoint says of its run: its configuration and the resolved facts ("run":
    trained_arch, backend, teacher_sha256). Checkpoints without "run" recorded the backend
    unresolved, so it is not compared for them."""
    config = dict(state.get("config") or {})
    if "run" not in state:
        config.pop("backend", None)
    return {**config, **state.get("run", {})}


def differences(old: Dict, new: Dict, names) -> List[str]:
    return [f"{name} {old[name]!r} -> {new.get(name)!r}" for name in names
            if name in old and old[name] != new.get(name)]


def check_same_run(old: Dict, new: Dict, run_dir, allow_changes: bool) -> List[str]:
    """Refuse another run's configuration; return the recipe changes that are accepted."""
    other = differences(old, new, IDENTITY)
    if other:
        raise KdaugError(f"--resume: {run_dir} holds another run ({'; '.join(other)}): "
                         f"start this one in another --run-dir")
    changed = differences(old, new, RECIPE)
    if changed and not allow_changes:
        raise KdaugError(f"--resume: {run_dir} was started with other settings "
                         f"({'; '.join(changed)}): pass --allow-changes to continue with them")
    return changed


def teacher_to_resume_with(old: Dict, given: Optional[str]) -> Optional[str]:
    """The teacher checkpoint of a resumed run: the run's own (``given`` may name it again).
    A run is never continued with another teacher, nor with its teacher's file changed."""
    path, digest = old.get("teacher_checkpoint"), old.get("teacher_sha256")
    if path is None:
        return given
    if given is None and not Path(path).is_file():
        raise KdaugError(f"--resume: the run's teacher {path} is gone: put it back, or start "
                         f"a new run")
    candidate = given or path
    if digest and file_sha256(candidate) != digest:
        what = ("has changed since the run started" if Path(candidate) == Path(path)
                else f"is another teacher than the run's {path}")
        raise KdaugError(f"--resume: the teacher checkpoint {candidate} {what}: a run is "
                         f"distilled from one teacher")
    return candidate
