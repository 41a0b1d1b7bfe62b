"""What a run directory guarantees: one run at a time, names that never mix configurations,
resumes that continue the same run, and nothing saved from a run that went non-finite."""
import json

import torch

from cli_helpers import SMALL, assert_one_line, run, small


def ce_run(run_dir, *extra):
    return ["train", "--method", "ce", "--teacher", "resnet8", "--backend", "reference",
            "--run-dir", str(run_dir), *extra]


def test_weights_that_become_non_finite_are_never_saved(tmp_path):
    # one step at lr 1e30: the loss of that step is finite, the weights after it are not
    res = run(ce_run(tmp_path / "r", *small(limit_batches=1), "--lr", "1e30"), tmp_path)
    assert_one_line(res.output, res.exit_code, 1, "non-finite during epoch 0", "nothing was saved")
    assert not (tmp_path / "r" / "checkpoint.pt").exists()
    assert not (tmp_path / "r" / "best.pt").exists()
