"""DaliLoader: the DALI backend behind the same interface as ReferenceLoader.

Batches follow kdaug.augment.reference_loader.epoch_indices (order and DDP sharding), so the
DALI and reference loaders read the same samples in the same order. The pipeline pulls each
batch from a Python callable (external_source); arrays go in as they are (numpy on the CPU;
on the GPU the whole uint8 array is copied to the device once and batches are gathered there),
files go in as encoded bytes and are decoded by DALI ("mixed" on the GPU).

Lanes: for in-memory images on the CPU a pass runs one single-threaded pipeline per thread,
run r on lane r % lanes, each run covering consecutive batches of at least LANE_BATCH samples
in all (split again before they are handed out). DALI's executor runs a pipeline's operators
one after another, and on small images the per-operator cost, not the per-sample work,
dominates: one pipeline with two threads keeps about one core busy (measured 1.06 cores, JDA
on 32x32), two pipelines keep two busy (2.2x the images/s), and 256 samples per run instead
of 128 add about 15%. Decoded files (large images, per-sample work dominates) and the GPU use
one pipeline with all the threads, one batch per run.

Randomness: every pass (``iter(loader)``) builds fresh pipelines seeded from (seed, epoch,
shard, lane), so views depend on those and on the number of lanes only: the same seed gives
the same views on the CPU, a re-iterated epoch repeats itself, ranks differ. A pipeline that
raised is never reused.
"""
from __future__ import annotations

import math
import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Iterator, List, Optional, Tuple

import numpy as np
import torch
from nvidia.dali.backend import GetCUDADeviceCount, TensorListGPU
from nvidia.dali.plugin.pytorch import feed_ndarray, to_torch_type

from kdaug.augment.plan import ViewPlan
from kdaug.augment.reference_loader import check_loader_args, epoch_indices
from kdaug.data.source import Split
from kdaug.errors import KdaugError
from kdaug.data.check import check_file
from kdaug.pipelines.files import read_encoded
from kdaug.pipelines.views import EXACT_EQUALIZE_MAX_PIXELS, array_pipeline, file_pipeline
from kdaug.viewbatch import ViewBatch

PREFETCH = 2
LANE_BATCH = 256   # samples per pipeline run in a lane (per-operator costs are per run)


def resolve_device(device: str) -> str:
    """"cpu" or "gpu" for a device request "cpu" | "gpu" | "cuda" | "auto"; a GPU request
    without a GPU is an error, never a silent CPU run."""
    gpus = GetCUDADeviceCount()
    if device == "auto":
        return "gpu" if gpus > 0 else "cpu"
    if device in ("gpu", "cuda"):
        if gpus == 0:
            raise KdaugError("device 'gpu' was asked for but DALI sees no CUDA GPU "
                             "(use device 'cpu' or 'auto')")
        return "gpu"
    if device == "cpu":
        return "cpu"
    raise KdaugError(f"unknown device {device!r}; use cpu, gpu or auto")


def default_num_threads() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def pipeline_seed(seed: int, epoch: int, shard_id: int, lane: int = 0) -> int:
    state = np.random.SeedSequence([seed, epoch, shard_id, 0xDA11, lane]).generate_state(1)[0]
    return int(state & 0x7FFFFFFF)


class _Feeder:
    """The external_source callable: returns the next batch of this pass and raises
    StopIteration at its end. Remembers the last few batches' indices so that a decode error
    can be traced to files."""

    def __init__(self, make_batch, chunks: List[np.ndarray]):
        self._make_batch = make_batch
        self._chunks = iter(chunks)
        self.recent: deque = deque(maxlen=PREFETCH + 2)

    def __call__(self):
        chunk = next(self._chunks)   # StopIteration ends the pass
        self.recent.append(chunk)
        return self._make_batch(chunk)


class DaliLoader:
    """Iterates ViewBatch objects for one shard of a split, like ReferenceLoader: call
    set_epoch(e) before each epoch; training drops the tail batch, evaluation keeps a partial
    last batch. Views are float16 on the GPU, float32 on the CPU.

    exact_equalize: PIL's equalize (bit-exact: numpy on the CPU; on the GPU an (H, W, 3, 255)
    staircase, which limits it to small images) or DALI's (OpenCV formula, within a few
    levels of PIL). Default: exact for in-memory images up to 64x64, DALI's otherwise."""

    def __init__(self, split: Split, plan: ViewPlan, batch_size: int, *, train: bool,
                 seed: int = 0, device: str = "auto", shard_id: int = 0, num_shards: int = 1,
                 num_threads: Optional[int] = None, exact_equalize: Optional[bool] = None):
        self.kind = resolve_device(device)
        check_loader_args(len(split), batch_size, train, shard_id, num_shards)
        if num_threads is not None and num_threads < 1:
            raise KdaugError(f"number of DALI threads must be >= 1, got {num_threads}")
        _check_images(split, plan)
        self.split, self.plan, self.batch_size, self.train = split, plan, batch_size, train
        self.seed, self.shard_id, self.num_shards = seed, shard_id, num_shards
        self.num_threads = num_threads or default_num_threads()
        lanes = self.kind == "cpu" and split.images is not None
        self.lanes = self.num_threads if lanes else 1
        self._per_run = max(1, LANE_BATCH // batch_size) if lanes else 1   # batches per run
        self.device = (torch.device("cuda", torch.cuda.current_device()) if self.kind == "gpu"
                       else torch.device("cpu"))
        small = (split.images is not None
                 and split.images.shape[1] * split.images.shape[2] <= EXACT_EQUALIZE_MAX_PIXELS)
        if exact_equalize and self.kind == "gpu" and not small:
            # the GPU formulation holds an (H, W, 3, 255) staircase per image
            raise KdaugError(f"exact equalize on the GPU is limited to in-memory images of at "
                             f"most {EXACT_EQUALIZE_MAX_PIXELS} pixels")
        self.exact_equalize = small if exact_equalize is None else exact_equalize
        self.epoch = 0
        self._feeders: List[_Feeder] = []
        self._labels = torch.as_tensor(split.labels, dtype=torch.int64)
        self._gpu_images: Optional[torch.Tensor] = None
        self._reader: Optional[ThreadPoolExecutor] = None
        rotations = plan.rotations
        self._rotation = None if rotations is None else torch.tensor(rotations, dtype=torch.int64)

    # ----------------------------------------------------------------------- epochs
    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _indices(self) -> np.ndarray:
        return epoch_indices(len(self.split), self.epoch, self.seed, self.train, self.shard_id,
                             self.num_shards)

    def __len__(self) -> int:
        count = len(self._indices())
        return count // self.batch_size if self.train else math.ceil(count / self.batch_size)

    def _chunks(self) -> List[np.ndarray]:
        indices = np.ascontiguousarray(self._indices())   # shards are strided views
        return [indices[b * self.batch_size:(b + 1) * self.batch_size] for b in range(len(self))]

    # ------------------------------------------------------------------------ feeding
    def _make_batch(self, chunk: np.ndarray):
        if self.split.images is None:
            files = [self.split.files[i] for i in chunk]
            if self._reader is None:
                self._reader = ThreadPoolExecutor(max_workers=min(8, self.num_threads))
            return list(self._reader.map(read_encoded, files)), chunk
        if self.kind == "cpu":
            return self.split.images[chunk], chunk
        if self._gpu_images is None:   # CIFAR-size data lives on the GPU for the whole run
            self._gpu_images = torch.from_numpy(np.ascontiguousarray(self.split.images)).to(
                self.device)
        index = torch.as_tensor(chunk, device=self.device)
        images = self._gpu_images.index_select(0, index)
        torch.cuda.current_stream(self.device).synchronize()  # DALI copies on its own stream
        return images, index

    def _build(self, feeder: _Feeder, lane: int):
        common = dict(batch_size=self.batch_size * self._per_run,
                      num_threads=self.num_threads // self.lanes,
                      device_id=self.device.index if self.kind == "gpu" else None,
                      seed=pipeline_seed(self.seed, self.epoch, self.shard_id, lane),
                      prefetch_queue_depth=PREFETCH)
        gpu = self.kind == "gpu"
        build = file_pipeline if self.split.images is None else array_pipeline
        pipe = build(feeder, self.plan, gpu=gpu, exact_equalize=self.exact_equalize,
                     **common)
        pipe.build()
        return pipe

    # ---------------------------------------------------------------------- iteration
    def _passes(self) -> Iterator[Tuple]:
        chunks, per_run = self._chunks(), self._per_run
        runs = [chunks[r:r + per_run] for r in range(0, len(chunks), per_run)]
        lanes = max(1, min(self.lanes, len(runs)))
        self._feeders = [_Feeder(self._make_batch, [np.concatenate(run) for run in
                                                    runs[lane::lanes]])
                         for lane in range(lanes)]
        pipes = [self._build(feeder, lane) for lane, feeder in enumerate(self._feeders)]
        for r, run in enumerate(runs):
            try:
                outputs = pipes[r % lanes].run()
            except StopIteration:
                return
            except Exception as e:   # the pipeline is dead after an error (dali-notes 9)
                explained = self._explain(e)
                if explained is e:
                    raise
                raise explained from e
            count = self.plan.num_views
            tensors = (self._views(outputs[:count]),) + tuple(self._to_torch(o)
                                                              for o in outputs[count:])
            start = 0
            for chunk in run:   # the run's batches, in order
                yield tuple(t[start:start + len(chunk)] for t in tensors)
                start += len(chunk)

    def _batch(self, views: torch.Tensor, index: torch.Tensor) -> ViewBatch:
        index = index.reshape(-1).to(self.device, torch.int64)
        if self._labels.device != self.device:
            self._labels = self._labels.to(self.device)
        labels = self._labels[index]
        rotation = None if self._rotation is None else self._rotation.to(self.device)
        return ViewBatch(views, labels, index, rotation)

    def __iter__(self) -> Iterator[ViewBatch]:
        for outputs in self._passes():
            yield self._batch(outputs[0], outputs[1])

    def iter_with_gates(self) -> Iterator[Tuple[ViewBatch, Optional[torch.Tensor],
                                                Optional[torch.Tensor]]]:
        """Like iter(), with which JDA steps fired: (batch, fired (B, V, L) bool, signs
        (B, V, L) int8); rows of views without a chain are all False / 0. None, None for
        families without a chain."""
        for outputs in self._passes():
            batch = self._batch(outputs[0], outputs[1])
            if len(outputs) == 2:
                yield batch, None, None
            else:
                yield batch, outputs[2].to(torch.bool), outputs[3]

    def _views(self, views) -> torch.Tensor:
        """V outputs (B, 3, S, S) -> (B, V, 3, S, S): on the CPU one copy per view into the
        batch tensor (DALI reuses its buffers, so a copy is needed anyway)."""
        if isinstance(views[0], TensorListGPU):
            return torch.stack([self._to_torch(v) for v in views], dim=1)
        first = views[0].as_tensor()
        out = torch.empty((first.shape()[0], len(views)) + tuple(first.shape()[1:]),
                          dtype=to_torch_type[first.dtype])
        array = out.numpy()
        for v, view in enumerate(views):
            np.copyto(array[:, v], np.asarray(view.as_tensor()))
        return out

    def _to_torch(self, tensor_list) -> torch.Tensor:
        if isinstance(tensor_list, TensorListGPU):
            dense = tensor_list.as_tensor()
            out = torch.empty(dense.shape(), dtype=to_torch_type[dense.dtype], device=self.device)
            feed_ndarray(dense, out, cuda_stream=torch.cuda.current_stream(self.device))
            return out
        out = torch.from_numpy(np.array(tensor_list.as_tensor(), copy=True))
        return out.to(self.device) if self.kind == "gpu" else out

    def _explain(self, error: Exception) -> Exception:
        """A decode failure in a file source becomes a KdaugError naming the bad file(s)."""
        if self.split.files is None or not self._feeders:
            return error
        suspects = sorted({int(i) for feeder in self._feeders for chunk in feeder.recent
                           for i in chunk})
        found = [(self.split.files[i], problem) for i in suspects
                 for problem in check_file(self.split.files[i])]
        # undecodable files first: a CMYK, greyscale or PNG file decodes on the CPU, so it is
        # a weaker suspect than a truncated or empty one
        bad = sorted(found, key=lambda found_one: not found_one[1].startswith(FATAL))
        if not bad:
            return error
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        return KdaugError(f"bad image file: {bad[0][0]}: {bad[0][1]}{more}")


FATAL = ("unreadable", "empty", "truncated", "cannot decode")  # kdaug.data.check's words


def _check_images(split: Split, plan: ViewPlan) -> None:
    if split.images is None:
        return
    images = split.images
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[3] != 3:
        raise KdaugError(f"in-memory images must be uint8 (N, H, W, 3) RGB, got {images.dtype} "
                         f"{tuple(images.shape)}")
    if plan.crop == "none" and tuple(images.shape[1:3]) != (plan.size, plan.size):
        raise KdaugError(f"images are {images.shape[1]}x{images.shape[2]} but the view plan "
                         f"keeps them uncropped at {plan.size}x{plan.size}")
