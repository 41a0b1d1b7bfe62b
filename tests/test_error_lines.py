"""Bad input and a hostile environment end in one line naming the problem, a non-zero exit and
no traceback; nothing already written is lost."""
import pytest

from cli_helpers import assert_one_line, run
from datasets_fixtures import make_class_folders


@pytest.fixture
def broken_folder(tmp_path):
    """A class-folder dataset with one truncated training JPEG; returns (root, bad file)."""
    written = make_class_folders(tmp_path / "data", ("a", "b"), 4, 2, size=(40, 30))
    bad = written["train"][1][0]
    with open(bad, "rb") as f:
        data = f.read()
    with open(bad, "wb") as f:
        f.write(data[: len(data) // 2])
    return tmp_path / "data", bad


@pytest.mark.parametrize("workers", ["0", "1"])
def test_reference_backend_names_the_bad_jpeg(workers, broken_folder, tmp_path):
    root, bad = broken_folder
    res = run(["train", "--dataset", "folder", "--data-dir", str(root), "--method", "ce",
               "--teacher", "resnet18", "--batch-size", "2", "--epochs", "1", "--quiet",
               "--backend", "reference", "--workers", workers, "--run-dir", str(tmp_path / "r")],
              tmp_path)
    line = assert_one_line(res.output, res.exit_code, 1, "bad image file", bad, "Truncated")
    assert "DataLoader" not in line
    assert not (tmp_path / "r" / "checkpoint.pt").exists()
