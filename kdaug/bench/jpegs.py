"""A class folder of JPEGs for the benchmark when the user gives none.

ImageNet-like files: 500x375 RGB, baseline (not progressive) JPEG, quality 90, 4:2:0 chroma
(what nvJPEG's hardware decoder takes), 40-70 KB each. Content looks natural to a decoder and
to the augmentation ops: a 1/f ("pink") luminance texture with weaker colour variation, a few
soft-edged shapes, and sensor-like grain; flat synthetic images would decode unrealistically
fast. Image i depends only on (seed, i), so a folder is the same whatever the process count.

Folders are generated once into a cache directory and reused while their manifest matches.
"""
from __future__ import annotations

import json
import os
import shutil
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Optional

import numpy as np

from kdaug.data.folders import list_classes, load_folders, scan_split
from kdaug.data.source import Split
from kdaug.errors import KdaugError
from kdaug.paths import cache_home

WIDTH, HEIGHT = 500, 375
QUALITY = 90
FORMAT_VERSION = 1
MANIFEST = "kdaug-bench.json"
_TEXTURE = (96, 128)   # the 1/f texture is drawn small and upsampled: 10x cheaper, same look


def natural_image(seed: int, index: int, width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    """(height, width, 3) uint8 RGB image ``index`` of the folder drawn with ``seed``."""
    from PIL import Image, ImageDraw, ImageFilter

    rng = np.random.default_rng([seed, index])
    h, w = _TEXTURE
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    freq = np.hypot(fx, fy)
    freq[0, 0] = 1.0
    amplitude = freq ** -1.2
    amplitude[0, 0] = 0.0

    def pink(channels: int) -> np.ndarray:
        shape = (channels, h, w // 2 + 1)
        spectrum = amplitude * (rng.normal(size=shape) + 1j * rng.normal(size=shape))
        x = np.fft.irfft2(spectrum, s=(h, w))
        return x / x.std()

    texture = rng.uniform(60, 190, (3, 1, 1)) + 45 * pink(1) + 12 * pink(3)
    texture = np.clip(texture.transpose(1, 2, 0), 0, 255).astype(np.uint8)
    im = Image.fromarray(texture).resize((width, height), Image.Resampling.BICUBIC)
    shapes, mask = Image.new("RGB", (width, height)), Image.new("L", (width, height), 0)
    draw_shape, draw_mask = ImageDraw.Draw(shapes), ImageDraw.Draw(mask)
    for _ in range(int(rng.integers(2, 6))):
        x0, y0 = int(rng.integers(-50, width)), int(rng.integers(-50, height))
        box = [x0, y0, x0 + int(rng.integers(40, 300)), y0 + int(rng.integers(40, 250))]
        colour = tuple(int(c) for c in rng.integers(20, 236, 3))
        opacity = int(rng.integers(150, 230))  # the texture shows through: shapes are not flat
        kind = "ellipse" if rng.random() < 0.6 else "rectangle"
        getattr(draw_shape, kind)(box, fill=colour)
        getattr(draw_mask, kind)(box, fill=opacity)
    im = Image.composite(shapes, im, mask.filter(ImageFilter.GaussianBlur(1.5)))
    grain = rng.integers(-5, 6, (height, width, 1), dtype=np.int16)
    return np.clip(np.asarray(im, dtype=np.int16) + grain, 0, 255).astype(np.uint8)


def _write(job) -> None:
    from PIL import Image

    path, seed, index = job
    Image.fromarray(natural_image(seed, index)).save(
        path, "JPEG", quality=QUALITY, subsampling=2, progressive=False, optimize=False)


def _manifest(count: int, classes: int, seed: int) -> dict:
    return {"format": FORMAT_VERSION, "count": count, "classes": classes, "seed": seed,
            "width": WIDTH, "height": HEIGHT, "quality": QUALITY, "progressive": False,
            "subsampling": "4:2:0"}


def cache_root() -> Path:
    return cache_home()


def _target(count: int, classes: int, seed: int, root: Optional[Path]) -> Path:
    root = Path(root or cache_root() / "bench-jpegs")
    return root / f"n{count}-c{classes}-s{seed}-v{FORMAT_VERSION}"


def cached_folder(count: int, classes: int = 10, seed: int = 0,
                  root: Optional[Path] = None) -> Optional[Path]:
    """The complete folder generated earlier with these parameters, or None."""
    target = _target(count, classes, seed, root)
    done = target / MANIFEST
    if done.exists() and json.loads(done.read_text()) == _manifest(count, classes, seed):
        return target
    return None


def generate_folder(count: int, classes: int = 10, seed: int = 0, root: Optional[Path] = None,
                    processes: int = 1) -> Path:
    """A folder ROOT/<class>/<image>.jpg of ``count`` images in ``classes`` classes; reused when
    a complete one with the same parameters exists."""
    if count < classes:
        raise KdaugError(f"{count} generated JPEGs cannot fill {classes} classes")
    cached = cached_folder(count, classes, seed, root)
    if cached is not None:
        return cached
    target = _target(count, classes, seed, root)
    manifest = _manifest(count, classes, seed)
    tmp = target.with_name(target.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    jobs = []
    for i in range(count):
        folder = tmp / f"class{i % classes:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        jobs.append((str(folder / f"img{i:06d}.jpg"), seed, i))
    if processes > 1:
        with ProcessPoolExecutor(processes) as pool:
            list(pool.map(_write, jobs, chunksize=16))
    else:
        for job in jobs:
            _write(job)
    (tmp / MANIFEST).write_text(json.dumps(manifest))
    shutil.rmtree(target, ignore_errors=True)
    os.replace(tmp, target)  # atomic: a half-written folder is never mistaken for a finished one
    return target


def folder_split(directory: str) -> Split:
    """The images of a class folder: DIR/train/<class>/* (ImageNet layout) or DIR/<class>/*."""
    directory = str(directory)
    if not os.path.isdir(directory):
        raise KdaugError(f"--jpeg-dir: folder not found: {directory}")
    if os.path.isdir(os.path.join(directory, "train")):
        return load_folders(directory).train
    return scan_split(directory, list_classes(directory))
