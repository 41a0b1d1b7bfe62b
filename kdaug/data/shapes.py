"""Image sizes of a file split, read from the file headers (no decoding).

The draws of a view (kdaug.augment.draws) need each raw image's size before the image is
decoded: a RandomResizedCrop window, a center crop, a rotation about the centre. The JPEG
(SOFn) and PNG (IHDR) headers give it from the first kilobytes; other formats go through
PIL's lazy open. Sizes are read once per split, by a thread pool (the reads release the GIL),
and kept on the split; large splits are also cached on disk, keyed by every path, size and
modification time.
"""
from __future__ import annotations

import hashlib
import os
import struct
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Optional, Tuple

import numpy as np

UNKNOWN = (1, 1)   # an unreadable header: the decoder will name the file when it fails
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
DISK_CACHE_MIN = 20_000   # splits at least this large keep their sizes on disk


def _jpeg_size(f) -> Optional[Tuple[int, int]]:
    f.seek(2)
    while True:
        marker = f.read(2)
        if len(marker) < 2 or marker[0] != 0xFF:
            return None
        kind = marker[1]
        if kind == 0xFF:          # fill byte
            f.seek(-1, 1)
            continue
        if kind in (0xD8, 0x01) or 0xD0 <= kind <= 0xD7:   # no length
            continue
        length = f.read(2)
        if len(length) < 2:
            return None
        size = struct.unpack(">H", length)[0]
        if kind in _SOF:
            data = f.read(5)
            if len(data) < 5:
                return None
            height, width = struct.unpack(">HH", data[1:5])
            return height, width
        f.seek(size - 2, 1)


def image_size(path: str) -> Tuple[int, int]:
    """(height, width) of an image file from its header; UNKNOWN when unreadable."""
    try:
        with open(path, "rb") as f:
            head = f.read(24)
            if head[:2] == b"\xff\xd8":
                found = _jpeg_size(f)
            elif head[:8] == b"\x89PNG\r\n\x1a\n" and len(head) >= 24:
                width, height = struct.unpack(">II", head[16:24])
                found = (height, width)
            else:
                found = None
        if found is None:
            from PIL import Image

            with Image.open(path) as im:
                found = (im.size[1], im.size[0])
        return found if found[0] > 0 and found[1] > 0 else UNKNOWN
    except Exception:   # any unreadable file: the decoder reports it, named
        return UNKNOWN


def _cache_file(files, cache_dir: Path) -> Path:
    digest = hashlib.sha1()
    for path in files:
        try:
            st = os.stat(path)
            digest.update(f"{path}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        except OSError:
            digest.update(f"{path}\0missing\n".encode())
    return cache_dir / f"{digest.hexdigest()}.npy"


def read_sizes(files, threads: int = 16, cache_dir: Optional[Path] = None) -> np.ndarray:
    """(N, 2) int64 (height, width) of every file."""
    cached = None
    if cache_dir is not None and len(files) >= DISK_CACHE_MIN:
        cached = _cache_file(files, Path(cache_dir))
        if cached.exists():
            sizes = np.load(cached)
            if sizes.shape == (len(files), 2):
                return sizes
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        sizes = np.array(list(pool.map(image_size, files, chunksize=256)), dtype=np.int64)
    sizes = sizes.reshape(len(files), 2)
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(".tmp.npy")
        np.save(tmp, sizes)
        os.replace(tmp, cached)
    return sizes


def split_sizes(split, cache_dir: Optional[Path] = None) -> np.ndarray:
    """Sizes of a file split's images, read once and kept on the split."""
    sizes = getattr(split, "_sizes", None)
    if sizes is None:
        if cache_dir is None:
            cache_dir = Path(os.environ.get("KDAUG_CACHE") or Path.home() / ".cache" / "kdaug") \
                / "sizes"
        sizes = read_sizes(split.files, cache_dir=cache_dir)
        split._sizes = sizes
    return sizes
