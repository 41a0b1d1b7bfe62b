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


def pytest_collection_modifyitems(config, items):
    # GPU tests skip themselves cleanly on CPU-only machines (CI, laptops).
    skip_gpu = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords and not HAS_CUDA:
            item.add_marker(skip_gpu)


@pytest.fixture(autouse=True)
def _few_threads():
    import torch

    torch.set_num_threads(1)
    yield


requires_dali = pytest.mark.skipif(not HAS_DALI, reason="nvidia-dali is not installed")
