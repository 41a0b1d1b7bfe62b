"""Distillation methods. Importing this package registers every method (see base.register)."""
from kdaug.methods.base import Method, MethodOutput, get_method, list_methods, register  # noqa: F401
from kdaug.methods import ccd, ce, hsakd, kd, sskd  # noqa: F401,E402
