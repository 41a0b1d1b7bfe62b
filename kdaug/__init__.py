"""kdaug: knowledge distillation with data augmentation on the GPU (NVIDIA DALI).

Implements Joint Data Augmentation (JDA) and Cosine Confidence Distillation (CCD) from
"What Role Does Data Augmentation Play in Knowledge Distillation?" (ACCV 2022), with KD,
HSAKD and SSKD beside them.
"""
__version__ = "0.1.0"

from kdaug.viewbatch import ViewBatch  # noqa: E402,F401
