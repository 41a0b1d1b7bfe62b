"""Image files for the DALI file pipeline: a quick validity check that names the problem (used
by the loader when a batch fails to decode, and by ``kdaug data check``), and a class-folder
split for build_loader. No DALI import here."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np

from kdaug.data.folders import list_classes, scan_split
from kdaug.data.source import Split
from kdaug.errors import KdaugError

_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
)
# Start-of-frame markers: baseline, extended, progressive, lossless (Huffman and arithmetic).
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _sniff(head: bytes) -> Optional[str]:
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    for signature, name in _SIGNATURES:
        if head.startswith(signature):
            return name
    return None


def _jpeg_problem(data: bytes) -> Optional[str]:
    """Walk the JPEG marker segments up to the first scan: frame header present, 1 or 3
    components, and an end-of-image marker after the scan (entropy-coded data escapes 0xFF,
    so a missing EOI means a truncated file)."""
    pos, components, scan = 2, None, None
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return f"is a corrupt JPEG (no marker at byte {pos})"
        marker = data[pos + 1]
        if marker == 0xFF:          # fill byte
            pos += 1
            continue
        if marker in (0x01,) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        length = int.from_bytes(data[pos + 2:pos + 4], "big")
        if length < 2 or pos + 2 + length > len(data):
            return "is a truncated JPEG (a header segment runs past the end of the file)"
        if marker in _SOF and pos + 9 < len(data):
            components = data[pos + 9]
        if marker == 0xDA:          # start of scan: entropy-coded data follows
            scan = pos + 2 + length
            break
        pos += 2 + length
    if components is None:
        return "is a corrupt JPEG (no frame header)"
    if components == 4:
        return "is a CMYK JPEG (4 colour components); convert it to RGB"
    if components not in (1, 3):
        return f"is a JPEG with {components} colour components; only greyscale and RGB are read"
    if scan is None:
        return "is a truncated JPEG (no image data)"
    if data.rfind(b"\xff\xd9") < scan:
        return "is a truncated JPEG (no end-of-image marker)"
    return None


def check_image_file(path, decode: bool = False) -> Optional[str]:
    """None when ``path`` looks like a JPEG the decoders can read, else a short description
    of the problem ("is empty", "is a PNG image, not a JPEG", "is a CMYK JPEG ...",
    "is a truncated JPEG ..."). ``decode=True`` also decodes it fully with PIL (slow)."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        return f"cannot be read ({e.strerror or e})"
    if not data:
        return "is empty"
    kind = _sniff(data[:16])
    if kind is None:
        return "is not an image (unknown file signature)"
    if kind != "JPEG":
        return f"is a {kind} image, not a JPEG"
    problem = _jpeg_problem(data)
    if problem is None and decode:
        problem = _decode_problem(path)
    return problem


def _decode_problem(path) -> Optional[str]:
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.load()
    except Exception as e:  # PIL raises several types for bad data
        return f"cannot be decoded ({e})"
    return None


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
