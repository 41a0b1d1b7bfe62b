import os

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")


def _has_cuda() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except Exception:
        return False


def _has_dali() -> bool:
    try:
        import nvidia.dali  # noqa: F401

        return True
    except Exception:
        return False


HAS_CUDA = _has_cuda()
HAS_DALI = _has_dali()
NO_DALI_ON_GPU = ("CUDA is present but nvidia.dali does not import: the DALI tests and the GPU "
                  "checks must fail here, not skip")


def dali_or_skip() -> None:
    """Module-level guard of DALI test modules: skip on a machine without CUDA and DALI (a CPU
    install without the dali extra); where CUDA is present, a missing DALI is an error."""
    if HAS_DALI:
        return
    if HAS_CUDA:
        raise RuntimeError(NO_DALI_ON_GPU)
    pytest.skip("nvidia-dali is not installed", allow_module_level=True)


def pytest_collection_modifyitems(config, items):
    # GPU tests skip themselves cleanly on CPU-only machines (CI, laptops).
    skip_gpu = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords and not HAS_CUDA:
            item.add_marker(skip_gpu)
        elif "gpu" in item.keywords and not HAS_DALI:
            raise pytest.UsageError(NO_DALI_ON_GPU)   # the whole run fails, loudly


@pytest.fixture(autouse=True)
def _few_threads():
    import torch

    torch.set_num_threads(1)
    yield


requires_dali = pytest.mark.skipif(not HAS_DALI, reason="nvidia-dali is not installed")
