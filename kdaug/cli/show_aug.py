"""kdaug show-aug: look at the views a plan makes."""
from __future__ import annotations

import os

import click
import numpy as np

from kdaug.cli.main import cli, console
from kdaug.cli.options import SEED
from kdaug.errors import KdaugError


@cli.command(name="show-aug")
@click.option("--dataset", default="digits", show_default=True, help="Dataset (see `kdaug list datasets`).")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None)
@click.option("--policy", default=None, help="cifar10, cifar100, imagenet (JDA), randaugment, autoaugment "
                   "[default: the dataset's JDA policy].")
@click.option("--family", type=click.Choice(["jda", "rotation", "rotation-crop", "plain"]),
              default="jda", show_default=True, help="View family to show.")
@click.option("--views", type=click.IntRange(min=1), default=4, show_default=True,
              help="Views per image (rotation families always have 4).")
@click.option("-n", "count", type=click.IntRange(min=1, max=64), default=8, show_default=True,
              help="Number of images (rows).")
@click.option("--backend", type=click.Choice(["auto", "dali", "reference"]), default="auto",
              show_default=True, help="Which implementation draws the views (DALI runs on CPU here).")
@click.option("--seed", type=SEED, default=0, show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False), default="grid.png",
              show_default=True, help="PNG file to write.")
def show_aug(dataset, data_dir, policy, family, views, count, backend, seed, output):
    """Write a PNG grid: each row an image, then its views, each captioned with the steps that
    ran on it and the value each drew (the views these images get in epoch 0 of a training run
    with this seed).

    \b
    Example:
      kdaug show-aug --dataset digits --policy cifar10 -n 8 -o grid.png
    """
    from kdaug.augment.plan import train_plan
    from kdaug.augment.grid import render_grid
    from kdaug.data import load_dataset
    import torch

    from kdaug.engine.loaders import choose_backend

    check_output_image(output)
    data = load_dataset(dataset, data_dir=data_dir)
    if family.startswith("rotation"):
        views = 4
    elif family == "jda" and views < 2:
        raise KdaugError("--views: the jda family needs at least 2 views (the original and one draw)")
    try:
        plan = train_plan(data.geometry, family, views, policy or data.default_policy,
                          data.mean, data.std)
    except KeyError as exc:
        raise KdaugError(f"--policy: {exc.args[0]}") from None
    choice = choose_backend(backend, "cpu", torch.device("cpu"))
    for note in choice.notes:
        console.print(note, markup=False)
    indices = pick_images(len(data.train), count, seed)
    raws, all_views, draws = sample_views(choice, data.train, plan, indices, seed)
    render_grid(raws, all_views, draws, plan).save(output)
    console.print(f"wrote {output}: {len(indices)} images x {plan.num_views} views "
                  f"({plan.family}, policy {plan.policy.name if plan.policy else '-'}, "
                  f"backend {choice.describe()}; the views these samples get in epoch 0 "
                  f"of a run with seed {seed})", markup=False)


def pick_images(total: int, count: int, seed: int) -> np.ndarray:
    """The sample ids a grid shows, in order."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(total, size=min(count, total), replace=False))


def check_output_image(path: str) -> None:
    """Before any work: -o names an image format PIL writes, in a directory that exists."""
    from PIL import Image

    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise KdaugError(f"-o {path}: directory {folder} does not exist")
    fmt = Image.registered_extensions().get(os.path.splitext(path)[1].lower())
    if fmt is None or fmt not in Image.SAVE:
        raise KdaugError(f"-o {path}: not an image file name (use .png)")


def sample_views(choice, split, plan, indices, seed: int):
    """(raw images, views (V, 3, S, S) per image, their draws) made by the chosen backend."""
    import torch

    from kdaug.augment.draws import draw
    from kdaug.engine.loaders import make_loader

    raws = [split.load(int(i)) for i in indices]
    loader = make_loader(choice, split, plan, len(indices), train=True, seed=seed,
                         train_device=torch.device("cpu"), workers=1)
    views = loader.views_of(indices).views.float().numpy()
    draws = draw(plan, seed, 0, indices, shapes=np.array([r.shape[:2] for r in raws]))
    return raws, list(views), draws
