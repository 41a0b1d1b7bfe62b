"""show-aug, data check, list: the commands that help people look at their data."""
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import kdaug.cli.commands  # noqa: F401  (registers the commands)
from kdaug.augment import grid
from kdaug.cli.main import cli
from datasets_fixtures import make_class_folders


def invoke(args):
    return CliRunner().invoke(cli, args, catch_exceptions=False)


def grid_of(png, args, rows):
    """The image cells of a show-aug grid as arrays (row-major), with its draws and plan."""
    from kdaug.augment.draws import draw
    from kdaug.augment.plan import train_plan
    from kdaug.cli.show_aug import pick_images
    from kdaug.data import load_dataset

    data = load_dataset("digits")
    family = args.get("--family", "jda")
    views = 4 if family.startswith("rotation") else int(args.get("--views", 4))
    plan = train_plan(data.geometry, family, views, args.get("--policy", data.default_policy),
                      data.mean, data.std)
    indices = pick_images(len(data.train), rows, int(args.get("--seed", 0)))
    draws = draw(plan, int(args.get("--seed", 0)), 0, indices)
    a = np.asarray(Image.open(png).convert("RGB"))
    cells = [[a[y:y + grid.CELL, x:x + grid.CELL] for x, y in row]
             for row in grid.cell_boxes(plan, draws)]
    return cells, draws, plan


def show(tmp_path, **args):
    out = tmp_path / "grid.png"
    flat = [x for kv in args.items() for x in kv]
    res = invoke(["show-aug", "--dataset", "digits", "-o", str(out)] + flat)
    assert res.exit_code == 0, res.output
    return out


@pytest.mark.parametrize("backend", ["dali", "reference"])
def test_show_aug_grid(backend, tmp_path):
    args = {"--policy": "cifar10", "-n": "3", "--views": "3", "--backend": backend}
    out = show(tmp_path, **args)
    cells, draws, plan = grid_of(out, args, 3)
    im = Image.open(out)
    assert im.size[0] == 4 * (grid.CELL + grid.PAD) + grid.PAD          # raw + 3 views
    assert im.size[1] == grid.cell_boxes(plan, draws)[-1][0][1] + grid.CELL + \
        grid.layout(plan, draws)[1][-1] * grid.LINE + grid.PAD + 2 + grid.PAD
    for row in cells:
        raw, original, aug1, aug2 = row
        assert not np.array_equal(aug1, aug2)          # two independent JDA draws


def test_show_aug_is_the_same_picture_on_both_backends(tmp_path):
    # randomness is data: DALI and the reference draw the same views
    (tmp_path / "d").mkdir()
    (tmp_path / "r").mkdir()
    a = show(tmp_path / "d", **{"--policy": "cifar100", "-n": "4", "--backend": "dali"})
    b = show(tmp_path / "r", **{"--policy": "cifar100", "-n": "4", "--backend": "reference"})
    assert a.read_bytes() == b.read_bytes()


def test_show_aug_captions_name_the_drawn_values():
    from kdaug.augment.draws import draw
    from kdaug.augment.plan import train_plan

    plan = train_plan("small", "jda", 2, "cifar100")
    draws = draw(plan, 0, 0, np.arange(200))
    captions = [grid.view_captions(plan, draws, r)[1] for r in range(200)]
    text = " ".join(captions)
    assert "contrast x1.30" in text and "contrast x0.70" in text      # factor 1 +- 0.3
    assert "translateY +0.403H" in text and "translateY -0.403H" in text
    assert "rotate +10 deg" in text and "posterize" not in text       # 8 bits: changes nothing
    assert "shearY" not in text                                       # shear 0: changes nothing
    for r, caption in enumerate(captions):                           # only what ran is listed
        ran = [s for s, f in zip(plan.policy.steps, draws.fired[r, 1]) if f and s.changes_images()]
        assert (caption == "(no step ran)") == (not ran)
        assert all(s.op in caption for s in ran)
    assert all(len(line) <= grid.CHARS for c in captions for line in grid.wrap(c))
    assert "..." not in text


def test_show_aug_rotation_views_are_rotations(tmp_path):
    args = {"--family": "rotation", "-n": "2", "--backend": "dali"}
    cells, _, _ = grid_of(show(tmp_path, **args), args, 2)
    for row in cells:
        for k in range(1, 4):  # shared crop and flip: view k is view 0 turned k times
            assert np.array_equal(row[1 + k], np.rot90(row[1], k))


def test_show_aug_bad_policy():
    res = invoke(["show-aug", "--policy", "nope", "-o", "x.png"])
    assert res.exit_code == 1 and "unknown policy 'nope'" in res.output


def test_data_check_names_bad_files(tmp_path):
    make_class_folders(tmp_path, ("a", "b"), 2, 1, size=(40, 30), seed=0)
    bad = tmp_path / "train" / "a" / "broken.jpg"
    good = next((tmp_path / "train" / "a").glob("*.JPEG")).read_bytes()
    bad.write_bytes(good[: len(good) // 2])
    png = tmp_path / "val" / "b" / "actually_png.jpg"
    Image.new("RGB", (8, 8), "red").save(png, format="PNG")
    res = invoke(["data", "check", str(tmp_path), "--workers", "1"])
    assert res.exit_code == 1
    assert "broken.jpg: cannot decode: Truncated" in res.output
    assert "actually_png.jpg: not a JPEG" in res.output
    assert "8 files checked, 2 with problems" in res.output


def test_data_check_clean_and_missing(tmp_path):
    make_class_folders(tmp_path, ("a",), 2, 1, size=(40, 30), seed=0)
    res = invoke(["data", "check", str(tmp_path)])
    assert res.exit_code == 0 and "0 with problems" in res.output
    res = invoke(["data", "check", str(tmp_path / "nowhere")])
    assert res.exit_code == 1 and "nowhere" in res.output and "Traceback" not in res.output


def test_list_commands():
    res = invoke(["list", "methods"])
    assert res.exit_code == 0
    for name in ("ce", "kd", "ccd", "hsakd", "hsakd-teacher", "sskd", "sskd-teacher"):
        assert name in res.output
    res = invoke(["list", "models"])
    assert res.exit_code == 0 and "resnet32x4" in res.output and "mobilenet_v2" in res.output
    res = invoke(["list", "policies"])
    assert "solarize 142" in " ".join(res.output.split())
