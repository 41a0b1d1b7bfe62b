"""Models: the CIFAR zoo of RepDistiller, torchvision ImageNet models, timm models (optional),
HSAKD auxiliary branches and the SSKD projection head, all behind one staged interface and a
registry. Names are imported on first use, so that the torch-free catalog
(kdaug.models.catalog) answers `kdaug list models` without importing torch."""
import importlib

_EXPORTS = {"AuxModel": "hsakd_aux", "aux_param_count": "hsakd_aux", "KINDS": "registry",
            "build": "registry", "create": "registry", "has_model": "registry",
            "list_models": "registry",
            "SSKDModel": "sskd", "Staged": "staged", "load_state": "weights"}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"kdaug.models.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'kdaug.models' has no attribute {name!r}")
