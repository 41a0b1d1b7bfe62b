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


def cells(png, rows, cols):
    """The image cells of a show-aug grid as arrays (row-major)."""
    a = np.asarray(Image.open(png).convert("RGB"))
    cell_h = grid.CELL + grid.TEXT_LINES * grid.LINE + 6
    return [[a[4 + r * cell_h: 4 + r * cell_h + grid.CELL, 4 + c * (grid.CELL + 4): 4 + c * (grid.CELL + 4) + grid.CELL]
             for c in range(cols)] for r in range(rows)]


@pytest.mark.parametrize("backend", ["dali", "reference"])
def test_show_aug_grid(backend, tmp_path):
    out = tmp_path / "grid.png"
    res = invoke(["show-aug", "--dataset", "digits", "--policy", "cifar10", "-n", "3", "--views", "3",
                  "--backend", backend, "-o", str(out)])
    assert res.exit_code == 0, res.output
    im = Image.open(out)
    cell_h = grid.CELL + grid.TEXT_LINES * grid.LINE + 6
    assert im.size == (4 * (grid.CELL + 4) + 4, 3 * cell_h + 4)   # raw + 3 views, 3 rows
    for row in cells(out, 3, 4):
        raw, original, aug1, aug2 = row
        assert not np.array_equal(aug1, aug2)          # two independent JDA draws
        assert not np.array_equal(original, aug1) or not np.array_equal(original, aug2)


def test_show_aug_rotation_views_are_rotations(tmp_path):
    out = tmp_path / "rot.png"
    res = invoke(["show-aug", "--family", "rotation", "-n", "2", "--backend", "dali", "-o", str(out)])
    assert res.exit_code == 0, res.output
    for row in cells(out, 2, 5):
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
