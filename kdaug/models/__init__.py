"""Models: the CIFAR zoo of RepDistiller, torchvision ImageNet models, HSAKD auxiliary
branches and the SSKD projection head, all behind one staged interface and a registry."""
from .hsakd_aux import AuxModel, aux_param_count
from .registry import KINDS, build, create, has_model, list_models
from .sskd import SSKDModel
from .staged import Staged
from .weights import load_state

__all__ = ["AuxModel", "KINDS", "SSKDModel", "Staged", "aux_param_count", "build", "create",
           "has_model", "list_models", "load_state"]
