"""A picture of what augmentation does: one row per image, the raw image then its views, with
the ops that fired written under each view (kdaug show-aug)."""
from __future__ import annotations

from typing import List, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from kdaug.augment.plan import ViewPlan

CELL = 128       # pixels per image cell: 32x32 images are upscaled so that they can be seen
TEXT_LINES = 7   # lines of op names under each cell (p=0.5 policies fire ~7 ops)
LINE = 11


def denormalize(view: np.ndarray, plan: ViewPlan) -> np.ndarray:
    """(3, S, S) normalised float -> (S, S, 3) uint8."""
    mean = np.asarray(plan.mean, np.float32)[:, None, None]
    std = np.asarray(plan.std, np.float32)[:, None, None]
    img = (np.asarray(view, np.float32) * std + mean) * 255.0
    return np.clip(np.rint(img), 0, 255).astype(np.uint8).transpose(1, 2, 0)


def view_captions(plan: ViewPlan, fired: Sequence[Sequence[bool]]) -> List[str]:
    captions = []
    for v in range(plan.num_views):
        if plan.rotations is not None:
            captions.append(f"rot {90 * plan.rotations[v]}")
        elif plan.augmented(v):
            ops = [s.describe() for s, f in zip(plan.policy.steps, fired[v]) if f]
            captions.append(", ".join(ops) if ops else "(no op fired)")
        else:
            captions.append("original view")
    return captions


def _wrap(text: str, width: int) -> List[str]:
    lines, line = [], ""
    for word in text.split(", "):
        candidate = f"{line}, {word}" if line else word
        if len(candidate) > width and line:
            lines.append(line + ",")
            line = word
        else:
            line = candidate
    lines.append(line)
    if len(lines) > TEXT_LINES:
        lines = lines[:TEXT_LINES - 1] + ["..."]
    return lines


def render_grid(raws: Sequence[np.ndarray], views: Sequence[np.ndarray],
                fired: Sequence[Sequence[Sequence[bool]]], plan: ViewPlan) -> Image.Image:
    """raws: N raw images (H, W, 3) uint8; views: N arrays (V, 3, S, S) float; fired: N lists of
    V lists of bools (one per policy step)."""
    n, v = len(raws), plan.num_views
    cell_h = CELL + TEXT_LINES * LINE + 6
    grid = Image.new("RGB", ((v + 1) * (CELL + 4) + 4, n * cell_h + 4), "white")
    draw = ImageDraw.Draw(grid)
    font = ImageFont.load_default()
    for r in range(n):
        y = 4 + r * cell_h
        cells = [np.asarray(raws[r])] + [denormalize(views[r][k], plan) for k in range(v)]
        captions = ["raw image"] + view_captions(plan, fired[r])
        for c, (img, caption) in enumerate(zip(cells, captions)):
            x = 4 + c * (CELL + 4)
            im = Image.fromarray(img).resize((CELL, CELL), Image.Resampling.NEAREST)
            grid.paste(im, (x, y))
            for i, line in enumerate(_wrap(caption, 21)):
                draw.text((x, y + CELL + 2 + i * LINE), line, fill="black", font=font)
    return grid
