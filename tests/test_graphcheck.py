"""The GPU-graph check (kdaug.pipelines.graphcheck) in CI, without a GPU: every GPU-mode graph
a DaliLoader builds is traced and checked (GPU implementations, dtypes fed to GPU kernels, no
python_function, operator budgets), and the check catches what it is meant to catch."""
import pytest

from conftest import dali_or_skip

dali_or_skip()

from nvidia.dali import fn, types  # noqa: E402

from kdaug.augment.plan import eval_plan, train_plan  # noqa: E402
from kdaug.pipelines import frames, graphcheck  # noqa: E402

GRAPHS = ([("jda", v, policy, source) for policy in ("cifar100", "cifar10", "imagenet")
           for v in (2, 4, 8) for source in ("arrays", "files")]
          + [("jda", v, policy, source) for policy in ("randaugment", "autoaugment")
             for v in (2, 4) for source in ("arrays", "files")]
          + [("plain", v, None, source) for v in (1, 2, 4, 8) for source in ("arrays", "files")]
          + [(family, 4, None, source) for family in ("rotation", "rotation-crop")
             for source in ("arrays", "files")]
          # HSAKD+JDA, SSKD+JDA: rotated views through the chain
          + [(family, 4, policy, source) for family in ("rotation", "rotation-crop")
             for policy in ("cifar100", "imagenet") for source in ("arrays", "files")])


def _plan(family, views, policy, source):
    return train_plan("small" if source == "arrays" else "large", family=family,
                      num_views=views, policy=policy, augment=policy is not None)


@pytest.mark.parametrize("family,views,policy,source", GRAPHS)
def test_every_gpu_graph_passes(family, views, policy, source):
    report = graphcheck.check_graph(_plan(family, views, policy, source), source)
    assert not report.problems, report.summary()
    assert report.count("gpu") > 0
    if source == "arrays" and policy not in ("randaugment", "autoaugment"):
        assert report.count("cpu") == 0   # packed graphs: the CPU does nothing per image


@pytest.mark.parametrize("source", ["arrays", "files"])
def test_evaluation_graphs_pass(source):
    plan = eval_plan("small" if source == "arrays" else "large")
    report = graphcheck.check_graph(plan, source, train=False)
    assert not report.problems, report.summary()


def test_a_planted_cpu_only_operator_fails(monkeypatch):
    # ZerosLike traces on a GPU input but has no GPU kernel: build() would fail on the card
    planted = lambda img, step, site, key: img | fn.cast(fn.zeros_like(img),  # noqa: E731
                                                         dtype=types.UINT8)
    monkeypatch.setitem(frames.MASKED_OPS, "invert", planted)
    report = graphcheck.check_graph(_plan("jda", 2, "cifar100", "arrays"), "arrays")
    assert "ZerosLike has no GPU implementation" in report.problems


def test_a_dtype_the_gpu_kernel_does_not_take_fails(monkeypatch):
    # the check compares what the CPU twin feeds each GPU operator with the kernel's table:
    # a kernel that took float only would be fed the uint8 images
    monkeypatch.setitem(graphcheck.GPU_INPUT_TYPES, "WarpAffine", {"FLOAT"})
    report = graphcheck.check_graph(_plan("jda", 2, "cifar100", "arrays"), "arrays")
    assert "WarpAffine on the GPU is fed UINT8" in report.problems


def test_a_graph_the_cpu_twin_cannot_run_fails(monkeypatch):
    planted = lambda img, step, site, key: fn.cast(  # noqa: E731
        fn.cast(img, dtype=types.FLOAT16) * 1, dtype=types.UINT8)   # no float16 arithmetic
    monkeypatch.setitem(frames.MASKED_OPS, "invert", planted)
    report = graphcheck.check_graph(_plan("jda", 2, "cifar100", "arrays"), "arrays")
    assert any("float16" in p for p in report.problems), report.problems


def _identity(arrays):
    return arrays


def test_a_python_function_fails(monkeypatch):
    # Python in the per-batch path of a GPU graph holds the GIL against the training thread
    def planted(img, step, site, key):   # the translation matrix through Python
        matrix = fn.python_function(site.input(f"{key}/matrix"), function=_identity,
                                    batch_processing=True, output_layouts="F**")
        return fn.warp_affine(img, matrix=matrix, inverse_map=True,
                              interp_type=types.INTERP_NN)

    monkeypatch.setitem(frames.MASKED_OPS, "translateY", planted)
    report = graphcheck.check_graph(_plan("jda", 2, "cifar100", "arrays"), "arrays")
    assert any(p.startswith("a python_function") for p in report.problems), report.problems


def test_budgets_are_enforced(monkeypatch):
    plan = _plan("jda", 2, "cifar100", "arrays")
    inputs = graphcheck.BUDGETS[("packed", "cifar100")][2]
    monkeypatch.setitem(graphcheck.BUDGETS, ("packed", "cifar100"), (10, 0, inputs))
    report = graphcheck.check_graph(plan, "arrays")
    assert any(p.endswith("GPU operators, over the budget of 16") for p in report.problems)
