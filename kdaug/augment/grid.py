"""A picture of what augmentation does: a header row, then one row per image, the raw image and
its views, each view captioned with the steps that ran and the value each one drew
(kdaug show-aug)."""
from __future__ import annotations

from typing import List, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from kdaug.augment.draws import Draws
from kdaug.augment.plan import ViewPlan

CELL = 128       # pixels per image cell: 32x32 images are upscaled so that they can be seen
LINE = 11        # pixels per caption line
CHARS = 21       # characters per caption line (the default font is 6 pixels wide)
PAD = 4
HEADER = 2 * LINE + PAD


def denormalize(view: np.ndarray, plan: ViewPlan) -> np.ndarray:
    """(3, S, S) normalised float -> (S, S, 3) uint8."""
    mean = np.asarray(plan.mean, np.float32)[:, None, None]
    std = np.asarray(plan.std, np.float32)[:, None, None]
    img = (np.asarray(view, np.float32) * std + mean) * 255.0
    return np.clip(np.rint(img), 0, 255).astype(np.uint8).transpose(1, 2, 0)


def column_titles(plan: ViewPlan) -> List[str]:
    titles = ["raw image"]
    for v in range(plan.num_views):
        if plan.rotations is not None:
            titles.append(f"view {v}: rotated {90 * plan.rotations[v]} deg")
        elif plan.augmented(v):
            titles.append(f"view {v}: JDA ({plan.policy.name})")
        else:
            titles.append(f"view {v}: original")
    return titles


def view_captions(plan: ViewPlan, draws: Draws, row: int) -> List[str]:
    """Per view, the steps that ran on it with their drawn values; steps that change nothing
    (posterize 8 bits, shear 0) are left out even when their gate fired."""
    captions = []
    for v in range(plan.num_views):
        if not plan.augmented(v):
            captions.append("crop, flip" if plan.flip else "")
            continue
        ran = [step.drawn(int(sign)) for step, fired, sign
               in zip(plan.policy.steps, draws.fired[row, v], draws.signs[row, v])
               if fired and step.changes_images()]
        captions.append(", ".join(ran) if ran else "(no step ran)")
    return captions


def wrap(text: str, width: int = CHARS) -> List[str]:
    """Lines of at most ``width`` characters, broken between steps (never cut short)."""
    lines, line = [], ""
    for word in text.split(", "):
        candidate = f"{line}, {word}" if line else word
        if len(candidate) + 1 > width and line:   # room for the comma
            lines.append(line + ",")
            line = word
        else:
            line = candidate
    lines.append(line)
    return lines


def layout(plan: ViewPlan, draws: Draws):
    """(captions per row and cell, caption lines per row): rows grow to their longest caption."""
    captions = [[""] + view_captions(plan, draws, r) for r in range(len(draws))]
    lines = [max(len(wrap(c)) for c in row) for row in captions]
    return captions, lines


def render_grid(raws: Sequence[np.ndarray], views: Sequence[np.ndarray], draws: Draws,
                plan: ViewPlan) -> Image.Image:
    """raws: N raw images (H, W, 3) uint8; views: N arrays (V, 3, S, S) float; draws: the
    N samples' draws (kdaug.augment.draws)."""
    n, v = len(raws), plan.num_views
    captions, lines = layout(plan, draws)
    heights = [CELL + l * LINE + PAD + 2 for l in lines]
    grid = Image.new("RGB", ((v + 1) * (CELL + PAD) + PAD, HEADER + sum(heights) + PAD), "white")
    draw = ImageDraw.Draw(grid)
    font = ImageFont.load_default()
    for c, title in enumerate(column_titles(plan)):
        head, _, tail = title.partition(": ")
        for i, line in enumerate([f"{head}:", tail] if tail else [head]):
            draw.text((PAD + c * (CELL + PAD), PAD + i * LINE), line, fill="black", font=font)
    y = HEADER
    for r in range(n):
        cells = [np.asarray(raws[r])] + [denormalize(views[r][k], plan) for k in range(v)]
        for c, (img, caption) in enumerate(zip(cells, captions[r])):
            x = PAD + c * (CELL + PAD)
            grid.paste(Image.fromarray(img).resize((CELL, CELL), Image.Resampling.NEAREST), (x, y))
            for i, line in enumerate(wrap(caption) if caption else []):
                draw.text((x, y + CELL + 2 + i * LINE), line, fill="black", font=font)
        y += heights[r]
    return grid


def cell_boxes(plan: ViewPlan, draws: Draws):
    """(left, top) of every image cell, row by row (tests read the grid back with these)."""
    _, lines = layout(plan, draws)
    boxes, y = [], HEADER
    for l in lines:
        boxes.append([(PAD + c * (CELL + PAD), y) for c in range(plan.num_views + 1)])
        y += CELL + l * LINE + PAD + 2
    return boxes
