"""kdaug train --config FILE: the keys of config.json in JSON, TOML or YAML; flags override."""
import json
import sys

import pytest
from click.testing import CliRunner

import kdaug.cli.commands  # noqa: F401  (registers the commands)
from kdaug.cli.main import cli

SMALL = {"dataset": "digits", "few_shot": 0.15, "batch_size": 32, "limit_batches": 2,
         "quiet": True, "workers": 0, "backend": "reference", "method": "ce", "epochs": 1}
FLAGS = ["--few-shot", "0.15", "--batch-size", "32", "--limit-batches", "2", "--quiet",
         "--workers", "0", "--backend", "reference", "--method", "ce", "--epochs", "1"]


def train(*args):
    return CliRunner().invoke(cli, ["train", *args])


def config(run_dir):
    return json.loads((run_dir / "config.json").read_text())


def test_a_runs_config_json_reruns_it_as_it_was(tmp_path):
    res = train(*FLAGS, "--teacher", "resnet8", "--run-dir", str(tmp_path / "a"))
    assert res.exit_code == 0, res.output
    res = train("--config", str(tmp_path / "a" / "config.json"), "--run-dir", str(tmp_path / "b"),
                "--seed", "3")
    assert res.exit_code == 0, res.output
    first, again = config(tmp_path / "a"), config(tmp_path / "b")
    changed = {k for k in first if first[k] != again[k]} - {"versions"}
    assert changed == {"run_dir", "seed"}  # what the flags overrode, nothing else
    assert again["seed"] == 3 and again["trained_arch"] == "resnet8"


def test_toml_keys_with_tables_and_lists(tmp_path):
    path = tmp_path / "run.toml"
    keys = {**SMALL, "method": "kd", "teacher": "resnet8", "student": "resnet8", "epochs": 2,
            "milestones": [1, 2], "run_dir": str(tmp_path / "r"),
            "cache_dir": str(tmp_path / "cache")}  # the kd teacher is trained and cached there
    path.write_text("".join(f"{k} = {json.dumps(v)}\n" for k, v in keys.items()) + "[hp]\nT = 2.5\n")
    res = train("--config", str(path), "--epochs", "1")  # the flag wins over the file
    assert res.exit_code == 0, res.output
    used = config(tmp_path / "r")
    assert (used["method"], used["epochs"], used["milestones"], used["hp"]) == \
        ("kd", 1, [1, 2], {"T": 2.5})


def test_yaml(tmp_path):
    pytest.importorskip("yaml", reason="PyYAML is in the test extra")
    path = tmp_path / "run.yaml"
    path.write_text("".join(f"{k}: {json.dumps(v)}\n" for k, v in SMALL.items())
                    + f"teacher: resnet8\nrun_dir: {tmp_path / 'r'}\nlr: 0.02\n")
    res = train("--config", str(path))
    assert res.exit_code == 0, res.output
    used = config(tmp_path / "r")
    assert (used["trained_arch"], used["lr"], used["batch_size"]) == ("resnet8", 0.02, 32)


@pytest.mark.parametrize("text,message", [
    ("batch-size = 3\nlrr = 0.1\n",
     "unknown keys batch-size (did you mean batch_size?), lrr (did you mean lr?); the keys are "
     "those of a run's config.json"),
    ('epochs = "many"\n', "epochs: 'many' is not a valid integer range."),
    ("epochs = 0\n", "epochs: 0 is not in the range x>=1."),
    ('backend = "gpu"\n', "backend: 'gpu' is not one of 'auto', 'dali', 'reference'."),
    ("epochs = \n", "cannot be parsed: "),
    ("[[x]]\n", "unknown key x"),
])
def test_bad_files_are_one_line_naming_file_and_key(tmp_path, text, message):
    path = tmp_path / "run.toml"
    path.write_text(text)
    res = train("--config", str(path))
    assert res.exit_code == 1, res.output
    line = res.stderr.strip()
    assert "\n" not in line and line.startswith(f"error: --config {path}") and message in line


def test_other_suffixes_and_missing_files(tmp_path):
    (tmp_path / "run.ini").write_text("")
    res = train("--config", str(tmp_path / "run.ini"))
    assert res.exit_code == 1 and "use a .json, .toml, .yaml, .yml file" in res.stderr
    res = train("--config", str(tmp_path / "none.toml"))
    assert res.exit_code == 1 and "none.toml: No such file or directory" in res.stderr


def test_yaml_without_pyyaml_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "yaml", None)  # import yaml now fails
    (tmp_path / "run.yaml").write_text("epochs: 1\n")
    res = train("--config", str(tmp_path / "run.yaml"))
    assert res.exit_code == 1
    assert res.stderr.strip() == "error: --config: reading YAML needs PyYAML (pip install pyyaml)"


def test_the_readme_example_is_a_valid_config(tmp_path):
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    example = re.search(r"```toml\n(.*?)```", readme, re.S).group(1)
    (tmp_path / "run.toml").write_text(example)
    # --config is read first (both are eager, in command-line order): its keys are checked
    assert train("--config", str(tmp_path / "run.toml"), "--help").exit_code == 0
    (tmp_path / "run.toml").write_text("epoch = 3\n" + example)
    assert train("--config", str(tmp_path / "run.toml"), "--help").exit_code == 1
