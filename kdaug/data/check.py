"""``kdaug check-data``: find the files of a class-folder dataset that would break or slow down
GPU decoding, before a long run meets them.

The GPU decoder (nvJPEG through DALI; the hardware JPEG engine of A100/H100 only takes
baseline JPEG) wants baseline RGB JPEG. Flagged, per file:
  unreadable, empty, truncated or otherwise undecodable (PIL verify + a full decode);
  not a JPEG (judged by the magic bytes, whatever the extension says);
  CMYK / YCCK or greyscale JPEG; progressive JPEG.
Files are decoded on a thread pool (Pillow releases the GIL while decoding), in chunks so that
ImageNet's 1.28M files never become 1.28M futures at once.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterator, List, Optional, Sequence, Tuple

from PIL import Image

from kdaug.data.folders import SPLITS, list_classes, list_images
from kdaug.errors import KdaugError

Problem = Tuple[str, str]                   # (path, what is wrong)
Progress = Callable[[int, int], None]       # (files done, files in all)

_MAGIC = ((b"\xff\xd8\xff", "JPEG"), (b"\x89PNG\r\n\x1a\n", "PNG"), (b"GIF8", "GIF"),
          (b"BM", "BMP"), (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"))
_CHUNK = 256


def dataset_files(data_dir: str) -> List[str]:
    """The image files training would read: every class folder of train/ and val/ (those that
    exist; at least one must)."""
    data_dir = str(data_dir)
    splits = [os.path.join(data_dir, s) for s in SPLITS if os.path.isdir(os.path.join(data_dir, s))]
    if not splits:
        raise KdaugError(f"nothing to check in {data_dir}: expected "
                         f"{os.path.join(data_dir, 'train')}/<class>/<image> and/or val/")
    return [f for split in splits for c in list_classes(split)
            for f in list_images(os.path.join(split, c))]


def check_dataset(data_dir: str, progress: Optional[Progress] = None,
                  workers: Optional[int] = None) -> List[Problem]:
    """Problems of a class-folder dataset, in file order. ``progress(done, total)`` is called
    as chunks of files finish; ``workers`` threads decode (default: CPU count, up to 32;
    1 checks in this thread)."""
    return check_files(dataset_files(data_dir), progress, workers)


def check_files(files: Sequence[str], progress: Optional[Progress] = None,
                workers: Optional[int] = None) -> List[Problem]:
    workers = workers or min(32, os.cpu_count() or 1)
    chunks = [files[i:i + _CHUNK] for i in range(0, len(files), _CHUNK)]
    problems: List[Problem] = []
    done = 0
    with ThreadPoolExecutor(workers) if workers > 1 else _InThread() as pool:
        for chunk, found in zip(chunks, pool.map(_check_chunk, chunks)):
            problems.extend(found)
            done += len(chunk)
            if progress is not None:
                progress(done, len(files))
    return problems


def check_file(path: str) -> List[str]:
    """What is wrong with one image file for GPU decoding (empty when nothing)."""
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError as e:
        return [load_problem(path, e)]
    if not head:
        return ["empty file (0 bytes)"]
    try:
        with Image.open(path) as im:
            im.verify()
        with Image.open(path) as im:
            im.load()
            mode, progressive = im.mode, bool(im.info.get("progressive"))
    except Exception as e:  # anything PIL cannot decode will fail the pipeline too
        return [load_problem(path, e)]
    kind = _format(head)
    if kind != "JPEG":
        return [f"not a JPEG ({kind} data): the GPU decoder wants JPEG"]
    problems = []
    if mode == "CMYK":
        problems.append("CMYK JPEG: the GPU decoder wants RGB (convert to RGB)")
    elif mode == "L":
        problems.append("greyscale JPEG: the GPU decoder wants RGB (convert to RGB)")
    if progressive:
        problems.append("progressive JPEG: the hardware decoder wants baseline (re-save baseline)")
    return problems


def load_problem(path: str, error: Exception) -> str:
    """What is wrong with a file that failed to open or decode with ``error``, in the words
    of check_file: unreadable, empty, truncated or cannot decode."""
    if isinstance(error, OSError) and error.errno is not None:  # the OS refused the file
        return f"unreadable: {error.strerror or error}"
    try:
        if os.path.getsize(path) == 0:
            return "empty file (0 bytes)"
    except OSError as e:
        return f"unreadable: {e.strerror or e}"
    text = str(error) or type(error).__name__
    return f"truncated: {text}" if "truncated" in text else f"cannot decode: {text}"


def bad_image_file(path: str, problem: str) -> KdaugError:
    """The one-line error of a training or preview run that meets a bad file."""
    return KdaugError(f"bad image file: {path}: {problem}")


def _check_chunk(paths: Sequence[str]) -> List[Problem]:
    return [(p, problem) for p in paths for problem in check_file(p)]


def _format(head: bytes) -> str:
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name
    return "unrecognised"


class _InThread:
    """The ``map`` of an executor, run in the calling thread (workers=1)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    @staticmethod
    def map(fn, items) -> Iterator:
        return map(fn, items)
