"""Image files for the DALI file pipeline: encoded bytes for the decoders and a class-folder
split for build_loader. (What is wrong with a file is kdaug.data.check's job.) No DALI import
here."""
from __future__ import annotations

from pathlib import Path
from typing import List, Tuple

import numpy as np

from kdaug.data.folders import list_classes, scan_split
from kdaug.data.source import Split
from kdaug.errors import KdaugError


def read_encoded(path: str) -> np.ndarray:
    """The file's bytes as a uint8 array (what DALI's decoders take)."""
    return np.fromfile(path, dtype=np.uint8)


def folder_split(root) -> Tuple[Split, List[str]]:
    """(Split of files, class names) from ``root/<class>/<image>``, listed the way
    kdaug.data.folders lists one split of a class-folder dataset."""
    if not Path(root).is_dir():
        raise KdaugError(f"{root} is not a directory of class folders (root/<class>/<image>)")
    classes = list_classes(str(root))
    return scan_split(str(root), classes), classes
