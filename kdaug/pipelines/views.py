"""ViewPlan -> DALI graph, and the two pipelines (in-memory arrays, image files).

Per view, as in kdaug.augment.reference.make_views: JDA chain on the raw full image (augmented
views) -> crop -> flip -> quarter-turn rotation -> normalise. Every random choice arrives as
a per-sample input (kdaug.pipelines.inputs, drawn by kdaug.augment.draws), so the graph only
computes: it is built once per loader, whatever the epoch or seed. Output per sample: V views
(3, S, S), float16 on the GPU, as one stacked output; float32 on the CPU, as V outputs (the
loader assembles (B, V, 3, S, S) with the one copy it makes anyway).
"""
from __future__ import annotations

import warnings
from typing import Dict, List, Optional, Tuple

from nvidia.dali import fn, pipeline_def, types
from nvidia.dali.data_node import DataNode
from nvidia.dali.pipeline import do_not_convert

from kdaug.augment.draws import quarter_turns
from kdaug.augment.plan import ViewPlan
from kdaug.pipelines.chain import jda_chain
from kdaug.pipelines.frames import realise_packed_views
from kdaug.pipelines.inputs import InputSpec, crop_group, flip_group
from kdaug.pipelines.ops import Site


@do_not_convert
def crop(img: DataNode, plan: ViewPlan, site: Site, group: int) -> DataNode:
    """The window of kdaug.augment.draws.Draws.crop for crop group ``group``."""
    size = [plan.size, plan.size]
    if plan.crop == "pad":
        return fn.slice(img, start=site.input(f"crop/{group}"), shape=size, axis_names="HW",
                        out_of_bounds_policy="pad", fill_values=0)
    if plan.crop == "rrc":
        return fn.resize(img, size=size, roi_start=site.input(f"roi_start/{group}"),
                         roi_end=site.input(f"roi_end/{group}"),
                         interp_type=types.INTERP_LINEAR, antialias=True)
    if plan.crop == "center":
        resized = fn.resize(img, size=site.input("resized"), interp_type=types.INTERP_LINEAR,
                            antialias=True)
        return fn.slice(resized, start=site.input(f"crop/{group}"), shape=size, axis_names="HW")
    return img   # "none": the source already has size x size images (checked by the loader)


@do_not_convert
def finish(img: DataNode, plan: ViewPlan, site: Site, view: int, k: int, dtype) -> DataNode:
    """Flip, then rotate by k quarter turns counter-clockwise, then normalise to CHW.

    rot_k(flip(x)) = flip(rot_-k(x)): the rotation runs first with the opposite angle for
    flipped samples (the ``angle`` input), and crop_mirror_normalize does the flip. fn.rotate,
    not transpose: transpose + crop_mirror_normalize fails on the GPU at batch >= 128."""
    flip = site.input(f"flip/{flip_group(plan, view)}") if plan.flip else 0
    if k % 4:
        angle = site.input(f"angle/{view}") if plan.flip else 90.0 * k
        img = fn.rotate(img, angle=angle, interp_type=types.INTERP_NN, keep_size=True)
    return fn.crop_mirror_normalize(
        img, dtype=dtype, output_layout="CHW",
        mean=[255.0 * m for m in plan.mean], std=[255.0 * s for s in plan.std], mirror=flip)


def library_augment(raw: DataNode, plan: ViewPlan, site: Site) -> DataNode:
    """RandAugment / AutoAugment (torchvision's ImageNet policy, kdaug.pipelines.autoaugment)
    through nvidia.dali.auto_aug, with the reference's settings: grey fill, nearest sampling,
    translations of up to 150/331 of the image (DALI's own randomness: the two backends
    agree in distribution, not view for view)."""
    from nvidia.dali.auto_aug import auto_augment, rand_augment

    from kdaug.pipelines.autoaugment import imagenet_policy

    policy = plan.policy
    shape = tuple(site.size) if site.size else raw.shape(dtype=types.INT32)[0:2]
    common = dict(fill_value=128, interp_type=types.INTERP_NN)
    with warnings.catch_warnings():   # auto_aug still calls DALI's deprecated aliases
        warnings.simplefilter("ignore")
        if policy.library == "randaugment":
            return rand_augment.rand_augment(raw, n=policy.option("n"), m=policy.option("m"),
                                             shape=shape, max_translate_rel=150 / 331, **common)
        return auto_augment.apply_auto_augment(imagenet_policy(), raw, **common)


def realise_views(raw: DataNode, plan: ViewPlan, site: Site) -> List[DataNode]:
    """V views (3, S, S) per sample of ``plan`` on HWC uint8 images."""
    dtype = types.FLOAT16 if site.gpu else types.FLOAT
    views, crops = [], {}
    for v, k in enumerate(quarter_turns(plan)):
        group = crop_group(plan, v)
        if plan.augmented(v):
            augment = library_augment if plan.policy.library else \
                (lambda img, plan_, site_: jda_chain(img, plan_.policy, v, site_))
            cropped = crop(augment(raw, plan, site), plan, site, group)
        else:
            if group not in crops:
                crops[group] = crop(raw, plan, site, group)
            cropped = crops[group]
        views.append(finish(cropped, plan, site, v, int(k), dtype))
    return views


def _outputs(views: List[DataNode], gpu: bool):
    # on the GPU one stacked (V, 3, S, S) output: one copy out of DALI per batch
    return (fn.stack(*views),) if gpu else tuple(views)


def _inputs(source, specs: List[InputSpec], device: str = "cpu") -> Dict[str, DataNode]:
    if not specs:
        return {}
    nodes = fn.external_source(source=source, num_outputs=len(specs), batch=True,
                               layout=[spec.layout for spec in specs], device=device)
    return {spec.name: node for spec, node in zip(specs, nodes)}


def _all_inputs(params, operands, specs: List[InputSpec], device: str):
    """The graph's per-sample inputs: CPU ones (predicates, geometry) from ``params()``,
    arithmetic operands from ``operands()``, placed where the images are."""
    inputs = _inputs(params, [s for s in specs if not s.data])
    inputs.update(_inputs(operands, [s for s in specs if s.data], device))
    return inputs


@pipeline_def(enable_conditionals=True)
def array_pipeline(images, params, operands, plan: ViewPlan, specs: List[InputSpec], *,
                   gpu: bool, exact_equalize: bool, size: Tuple[int, int],
                   cuda_stream: Optional[int] = None):
    """Images from memory: ``images()`` returns (B, H, W, 3) uint8, numpy on the CPU or a torch
    CUDA tensor for a GPU pipeline (copied by DALI on ``cuda_stream``, no host wait);
    ``params()`` and ``operands()`` the arrays of ``specs``. All raise StopIteration at the
    end of a pass."""
    device = "gpu" if gpu else "cpu"
    raw = fn.external_source(source=images, batch=True, layout="HWC", device=device,
                             cuda_stream=cuda_stream)
    site = Site(gpu, exact_equalize, size=size,
                inputs=_all_inputs(params, operands, specs, device))
    return _outputs(realise_views(raw, plan, site), gpu)


@pipeline_def
def packed_array_pipeline(images, params, operands, plan: ViewPlan, specs: List[InputSpec], *,
                          gpu: bool, size: Tuple[int, int], cuda_stream: Optional[int] = None):
    """Packs of F in-memory images (kdaug.pipelines.frames): ``images()`` returns
    (S, F, H, W, 3) uint8; ``params()`` the CPU inputs of ``specs`` (matrices), ``operands()``
    the per-frame arithmetic operands (moved to the GPU with the images). One output per
    pack: (F, V, 3, S, S)."""
    device = "gpu" if gpu else "cpu"
    raw = fn.external_source(source=images, batch=True, layout="FHWC", device=device,
                             cuda_stream=cuda_stream)
    site = Site(gpu, True, size=size, inputs=_all_inputs(params, operands, specs, device))
    return fn.stack(*realise_packed_views(raw, plan, site), axis=1)


@pipeline_def(enable_conditionals=True)
def file_pipeline(paths, params, operands, plan: ViewPlan, specs: List[InputSpec], *, gpu: bool,
                  exact_equalize: bool, max_side: int, max_hw: Tuple[int, int],
                  hw_decoder_load: float = 0.9):
    """Image files: ``paths()`` returns the batch's file paths as uint8 arrays, read by DALI's
    threads (fn.io.file.read) and decoded on the GPU ("mixed": the hardware JPEG decoder takes
    ``hw_decoder_load`` of the images) or the CPU. The JDA chain runs on the full decoded
    image, whose size the feeder knows from kdaug.data.shapes (no EXIF rotation, as PIL)."""
    encoded = fn.io.file.read(fn.external_source(source=paths, batch=True))
    decoder = dict(device="mixed", hw_decoder_load=hw_decoder_load,
                   preallocate_height_hint=max_hw[0], preallocate_width_hint=max_hw[1]) \
        if gpu else dict(device="cpu")
    raw = fn.decoders.image(encoded, output_type=types.RGB, adjust_orientation=False, **decoder)
    site = Site(gpu, exact_equalize, max_side=max_side,
                inputs=_all_inputs(params, operands, specs, "gpu" if gpu else "cpu"))
    return _outputs(realise_views(raw, plan, site), gpu)
