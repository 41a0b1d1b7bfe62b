"""The nearest GPU peer of kdaug's JDA pipelines: what a DALI user would write instead, DALI's
own reader, decoder and ``nvidia.dali.auto_aug`` AutoAugment (ImageNet policy).

Per image: view 0 the standard transform (RandomResizedCrop, flip, normalise), views 1.. the
same after AutoAugment's ImageNet policy (one sub-policy of two ops per view). Randomness is
DALI's own (the peer follows its documentation, not kdaug's draws), so only its speed is
compared, never its views.
"""
from __future__ import annotations

import torch

from kdaug.augment.plan import ViewPlan
from kdaug.data.source import Split
from kdaug.viewbatch import ViewBatch


def _pipeline(split: Split, plan: ViewPlan, batch_size: int, gpu: bool, threads: int,
              seed: int):
    from nvidia.dali import fn, pipeline_def, types
    from nvidia.dali.auto_aug import auto_augment

    @pipeline_def(enable_conditionals=True, batch_size=batch_size, num_threads=threads,
                  device_id=torch.cuda.current_device() if gpu else None, seed=seed)
    def peer():
        jpegs, labels = fn.readers.file(files=list(split.files), labels=split.labels.tolist(),
                                        random_shuffle=True, name="Reader")
        images = fn.decoders.image(jpegs, device="mixed" if gpu else "cpu",
                                   output_type=types.RGB)
        views = []
        for v in range(plan.num_views):
            img = images if v == 0 else auto_augment.auto_augment(
                images, policy_name="image_net", shape=fn.peek_image_shape(jpegs)[0:2])
            img = fn.random_resized_crop(img, size=[plan.size, plan.size],
                                         random_area=list(plan.rrc_scale),
                                         random_aspect_ratio=list(plan.rrc_ratio))
            views.append(fn.crop_mirror_normalize(
                img, dtype=types.FLOAT16 if gpu else types.FLOAT, output_layout="CHW",
                mean=[255 * m for m in plan.mean], std=[255 * s for s in plan.std],
                mirror=fn.random.coin_flip()))
        return fn.stack(*views), labels

    pipe = peer()
    pipe.build()
    return pipe


class AutoAugmentLoader:
    """Batches of the peer as kdaug ViewBatch objects (views on the device, labels, index -1:
    DALI's reader does not say which file a sample came from)."""

    def __init__(self, split: Split, plan: ViewPlan, batch_size: int, device: torch.device,
                 threads: int, seed: int = 0):
        from nvidia.dali.plugin.pytorch import DALIGenericIterator, LastBatchPolicy

        if split.files is None:
            raise ValueError("the AutoAugment peer reads image files")
        self.device = device
        self._iterator = DALIGenericIterator(
            [_pipeline(split, plan, batch_size, device.type == "cuda", threads, seed)],
            ["views", "labels"], reader_name="Reader", last_batch_policy=LastBatchPolicy.DROP,
            auto_reset=True)
        self._length = len(split) // batch_size

    def set_epoch(self, epoch: int) -> None:
        pass   # DALI's reader reshuffles by itself each epoch

    def __len__(self) -> int:
        return self._length

    def __iter__(self):
        for out in self._iterator:
            views, labels = out[0]["views"], out[0]["labels"]
            index = torch.full((views.shape[0],), -1, dtype=torch.int64, device=views.device)
            yield ViewBatch(views, labels.reshape(-1).to(torch.int64), index)


def peer_unavailable(source: str, num_views: int) -> str:
    """Why the peer has no row here, or '' when it has one."""
    if source != "jpeg":
        return "the AutoAugment peer is measured on image files (ImageNet policy)"
    return ""

