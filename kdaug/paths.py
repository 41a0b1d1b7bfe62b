"""Where kdaug keeps files of its own between runs."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional


def cache_home(explicit: Optional[str] = None) -> Path:
    """--cache-dir, else $KDAUG_CACHE, else ~/.cache/kdaug."""
    return Path(explicit or os.environ.get("KDAUG_CACHE") or Path.home() / ".cache" / "kdaug")


def path_part(name: str) -> str:
    """A model name fit for a directory name (timm:resnet18 -> timm-resnet18)."""
    return name.replace(":", "-")
