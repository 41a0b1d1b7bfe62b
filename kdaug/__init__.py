"""kdaug: knowledge distillation with data augmentation on the GPU (NVIDIA DALI).

Implements Joint Data Augmentation (JDA) and Cosine Confidence Distillation (CCD) from
"What Role Does Data Augmentation Play in Knowledge Distillation?" (ACCV 2022), with KD,
HSAKD and SSKD beside them.
"""

__version__ = "0.1.0"


def __getattr__(name):
    # ViewBatch needs torch; importing it on first use keeps `kdaug --help` free of torch.
    if name == "ViewBatch":
        from kdaug.viewbatch import ViewBatch

        return ViewBatch
    raise AttributeError(f"module 'kdaug' has no attribute {name!r}")
