"""`kdaug study PROPERTY` and `kdaug compare` end to end on a tiny recipe: the structure of
results.json, the plot, reuse of finished runs, and bad input (one line, exit 1, nothing of
the finished runs lost). Accuracy is not checked here: one batch per epoch learns nothing."""
import json

import pytest
from click.testing import CliRunner

import kdaug.cli.commands  # noqa: F401  (registers the commands)
from kdaug.cli.main import cli
from kdaug.methods.catalog import METHODS

TINY = ["--epochs", "1", "--teacher-epochs", "1", "--batch-size", "16", "--limit-batches", "1",
        "--seeds", "0,1", "--backend", "reference", "--workers", "0", "--quiet"]


def invoke(tmp_path, *args):
    return CliRunner().invoke(cli, list(args), env={"KDAUG_CACHE": str(tmp_path / "cache")},
                              catch_exceptions=False)


def run_study(tmp_path, name, *extra, out="s"):
    res = invoke(tmp_path, *name.split(), *extra, *TINY, "--out", str(tmp_path / out))
    assert res.exit_code == 0, res.output
    return json.loads((tmp_path / out / "results.json").read_text())


def check_structure(result, arms, seeds=(0, 1)):
    assert result["seeds"] == list(seeds)
    assert [a["key"] for a in result["arms"]] == arms
    for a in result["arms"]:
        assert a["top1"]["n"] == len(seeds) and len(a["runs"]) == len(seeds)
        assert set(a["top1"]) >= {"mean", "std", "values"}
        if a["against"]:
            assert a["vs"]["n"] == len(seeds) and a["verdict"]
    assert result["teachers"] and all("top1" in t for t in result["teachers"])


@pytest.mark.parametrize("name,extra,arms", [
    ("augment-vs-rotate", [], ["kd-plain", "kd-rotation", "kd-jda"]),
    ("teacher-aug", [], ["plain-teacher", "jda-teacher"]),
    ("proportion", ["--views-list", "1,2,3"], ["v1", "v2", "v3"]),
    ("few-shot", ["--fractions", "0.05,0.1"], ["kd-f0.05", "jda-f0.05", "kd-f0.1", "jda-f0.1"]),
    ("with-methods", [], ["kd", "kd-jda", "hsakd", "hsakd-jda", "sskd", "sskd-jda", "ccd"]),
])
def test_each_study_runs_end_to_end(tmp_path, name, extra, arms):
    result = run_study(tmp_path, f"study {name}", *extra)
    assert result["study"] == name
    check_structure(result, arms)
    png = tmp_path / "s" / "results.png"
    assert png.stat().st_size > 10_000 and png.read_bytes()[:4] == b"\x89PNG"
    md = (tmp_path / "s" / "results.md").read_text()
    assert "mean ± std over 2 seeds" in md and f"kdaug study {name}" in md
    if name == "teacher-aug":  # two teachers, one trained on JDA views
        assert sorted(t["jda"] for t in result["teachers"]) == [False, True]
    if name == "with-methods":
        runs = {a["key"]: a for a in result["arms"]}
        assert runs["hsakd-jda"]["jda"] and not runs["hsakd"]["jda"]
        assert {t["method"] for t in result["teachers"]} == {"ce", "hsakd-teacher", "sskd-teacher"}
    if name == "few-shot":  # the students learn from the fraction, the teacher from the whole
        assert [a["few_shot"] for a in result["arms"]] == [0.05, 0.05, 0.1, 0.1]


def test_compare_takes_every_method(tmp_path):
    names = list(METHODS)
    result = run_study(tmp_path, "compare", "--methods", ",".join(names))
    check_structure(result, names)
    assert all(a["against"] == "ce" for a in result["arms"][1:])
    # every row of a student method trains the same student; the teacher stages the teacher
    arch = {a["key"]: a["arch"] for a in result["arms"]}
    assert {arch[m] for m in ("ce", "kd", "ccd", "hsakd", "sskd")} == {"resnet8"}
    assert arch["hsakd-teacher"] == arch["sskd-teacher"] == "resnet20"


def test_finished_runs_are_reused(tmp_path):
    run_study(tmp_path, "study augment-vs-rotate")
    checkpoints = sorted((tmp_path / "s").glob("*/seed*/checkpoint.pt"))
    assert len(checkpoints) == 6
    before = [p.stat().st_mtime_ns for p in checkpoints]
    again = run_study(tmp_path, "study augment-vs-rotate")
    assert [p.stat().st_mtime_ns for p in checkpoints] == before
    check_structure(again, ["kd-plain", "kd-rotation", "kd-jda"])


@pytest.mark.parametrize("args,message", [
    (["study", "nonsense"], "unknown study property 'nonsense'"),
    (["study", "proportion", "--seeds", "0,0"], "--seeds: 0 is given twice"),
    (["study", "proportion", "--seeds", ""], "--seeds is empty"),
    (["study", "few-shot", "--fractions", "0.1,1.5"], "--fractions: 1.5 is not in (0, 1]"),
    (["study", "few-shot", "--fractions", "0"], "--fractions: 0.0 is not in (0, 1]"),
    (["study", "proportion", "--views-list", "0,2"], "--views-list: 0 is not a view count"),
    (["compare", "--methods", "kd,nope"], "unknown method 'nope'"),
    (["compare", "--methods", ""], "--methods is empty"),
])
def test_bad_input_is_one_line(tmp_path, args, message):
    res = invoke(tmp_path, *args, "--out", str(tmp_path / "x"))
    assert res.exit_code == 1, res.output
    assert message in " ".join(res.output.split()) and "Traceback" not in res.output
    assert not (tmp_path / "x").exists()


def test_a_directory_of_another_study_is_refused(tmp_path):
    run_study(tmp_path, "study teacher-aug")
    kept = sorted(p.stat().st_mtime_ns for p in (tmp_path / "s").rglob("*.pt"))
    res = invoke(tmp_path, "study", "proportion", *TINY, "--out", str(tmp_path / "s"))
    assert res.exit_code == 1
    assert "holds another study (teacher-aug on digits)" in " ".join(res.output.split())
    assert sorted(p.stat().st_mtime_ns for p in (tmp_path / "s").rglob("*.pt")) == kept
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    res = invoke(tmp_path, "study", "proportion", *TINY, "--out", str(tmp_path / "other"))
    assert res.exit_code == 1 and "holds no study" in res.output
