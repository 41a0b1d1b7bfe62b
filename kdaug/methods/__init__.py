"""Distillation methods. The package imports nothing on its own, so that its torch-free
catalog (kdaug.methods.catalog) answers `kdaug list methods` at once; get_method and
list_methods import every implementation module, which registers its methods."""
import importlib

IMPLEMENTATIONS = ("ccd", "ce", "hsakd", "kd", "sskd")  # modules under kdaug.methods
_FROM_BASE = ("Method", "MethodOutput", "get_method", "list_methods", "register")


def __getattr__(name):
    if name in _FROM_BASE:
        return getattr(importlib.import_module("kdaug.methods.base"), name)
    raise AttributeError(f"module 'kdaug.methods' has no attribute {name!r}")


def import_implementations() -> None:
    for module in IMPLEMENTATIONS:
        importlib.import_module(f"kdaug.methods.{module}")
