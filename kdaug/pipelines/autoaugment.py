"""AutoAugment's ImageNet policy for nvidia.dali.auto_aug, as torchvision defines it.

DALI's own ``auto_augment(policy_name="image_net")`` is another policy (TensorFlow's "v0":
11 magnitude bins, solarize_add, shear_y), so kdaug builds torchvision's
``AutoAugmentPolicy.IMAGENET`` (the AutoAugment paper's table) from DALI's augmentations, with
torchvision's 10 magnitude bins and ranges: shear 0.3, translate 150/331 of the image, rotate
30 degrees, enhance factors 1 +- 0.9, posterize 8 -> 4 bits, solarize thresholds 255 -> 0.
What still differs is each library's own arithmetic (DALI's sharpness kernel, its interpolating
warps): the two backends agree in distribution (tests/test_library_policies.py).
"""
from __future__ import annotations

# torchvision.transforms.AutoAugmentPolicy.IMAGENET: (op, probability, magnitude bin)
IMAGENET_SUB_POLICIES = (
    (("Posterize", 0.4, 8), ("Rotate", 0.6, 9)),
    (("Solarize", 0.6, 5), ("AutoContrast", 0.6, None)),
    (("Equalize", 0.8, None), ("Equalize", 0.6, None)),
    (("Posterize", 0.6, 7), ("Posterize", 0.6, 6)),
    (("Equalize", 0.4, None), ("Solarize", 0.2, 4)),
    (("Equalize", 0.4, None), ("Rotate", 0.8, 8)),
    (("Solarize", 0.6, 3), ("Equalize", 0.6, None)),
    (("Posterize", 0.8, 5), ("Equalize", 1.0, None)),
    (("Rotate", 0.2, 3), ("Solarize", 0.6, 8)),
    (("Equalize", 0.6, None), ("Posterize", 0.4, 6)),
    (("Rotate", 0.8, 8), ("Color", 0.4, 0)),
    (("Rotate", 0.4, 9), ("Equalize", 0.6, None)),
    (("Equalize", 0.0, None), ("Equalize", 0.8, None)),
    (("Invert", 0.6, None), ("Equalize", 1.0, None)),
    (("Color", 0.6, 4), ("Contrast", 1.0, 8)),
    (("Rotate", 0.8, 8), ("Color", 1.0, 2)),
    (("Color", 0.8, 8), ("Solarize", 0.8, 7)),
    (("Sharpness", 0.4, 7), ("Invert", 0.6, None)),
    (("ShearX", 0.6, 5), ("Equalize", 1.0, None)),
    (("Color", 0.4, 0), ("Equalize", 0.6, None)),
    (("Equalize", 0.4, None), ("Solarize", 0.2, 4)),
    (("Solarize", 0.6, 5), ("AutoContrast", 0.6, None)),
    (("Invert", 0.6, None), ("Equalize", 1.0, None)),
    (("Color", 0.6, 4), ("Contrast", 1.0, 8)),
    (("Equalize", 0.8, None), ("Equalize", 0.6, None)),
)
MAGNITUDE_BINS = 10


def imagenet_policy():
    """torchvision's ImageNet AutoAugment policy as a nvidia.dali.auto_aug Policy."""
    from nvidia.dali.auto_aug import augmentations as a
    from nvidia.dali.auto_aug.core import Policy

    ops = {
        "ShearX": a.shear_x.augmentation((0, 0.3), True),
        "Rotate": a.rotate.augmentation((0, 30), True),
        "Color": a.color.augmentation((0, 0.9), True, a.shift_enhance_range),
        "Contrast": a.contrast.augmentation((0, 0.9), True, a.shift_enhance_range),
        "Sharpness": a.sharpness.augmentation((0, 0.9), True, a.sharpness_kernel),
        "Posterize": a.posterize.augmentation((8, 4), False, a.poster_mask_uint8),
        "Solarize": a.solarize.augmentation((255, 0), False),
        "AutoContrast": a.auto_contrast, "Equalize": a.equalize, "Invert": a.invert,
    }
    return Policy("torchvision-imagenet", MAGNITUDE_BINS,
                  [[(ops[name], p, magnitude) for name, p, magnitude in sub]
                   for sub in IMAGENET_SUB_POLICIES])
