"""DaliLoader: the DALI backend behind the same interface as ReferenceLoader.

Batches follow kdaug.augment.loading (order, DDP sharding, epochs, layouts), so the DALI and
reference loaders read the same samples in the same order, and with kdaug.augment.draws they
make the same views. Per batch, the feeder (Python, in the thread that iterates) hands DALI
the images (numpy on the CPU; on the GPU rows gathered from a copy of the whole array kept in
GPU memory, copied by DALI on the loader's stream without a host wait) or the file paths (read
by DALI's own threads), and the batch's draws as per-sample inputs
(kdaug.pipelines.inputs): vectorised numpy per batch, no Python per sample, no
python_function in a GPU graph.

Pipelines are built once per loader (on the first pass) and reset between passes; a pass that
stops early is drained first. A pipeline that raised is dead and is rebuilt.

Lanes: for in-memory images on the CPU, a pass runs one single-threaded pipeline per thread,
run r on lane r % lanes, each run covering consecutive batches of at least LANE_BATCH samples
(split again before they are handed out). DALI's executor runs a pipeline's operators one
after another, and on small images the per-operator cost dominates: two single-threaded
pipelines keep two cores busy where one two-threaded pipeline keeps about one. Views do not
depend on the number of lanes: the draws are data.
"""
from __future__ import annotations

import os
from collections import deque
from typing import Iterator, List, Optional, Tuple

import numpy as np
import torch
from nvidia.dali.backend import GetCUDADeviceCount, TensorListGPU
from nvidia.dali.plugin.pytorch import feed_ndarray, to_torch_type

from kdaug.augment.draws import draw
from kdaug.augment.loading import EpochLoader
from kdaug.augment.plan import ViewPlan
from kdaug.data.check import check_file
from kdaug.data.shapes import split_sizes
from kdaug.data.source import Split
from kdaug.errors import KdaugError
from kdaug.pipelines.inputs import (input_arrays, input_specs, packed_input_arrays,
                                    packed_input_specs)
from kdaug.pipelines.ops import EXACT_EQUALIZE_MAX_PIXELS
from kdaug.pipelines.views import array_pipeline, file_pipeline, packed_array_pipeline
from kdaug.viewbatch import ViewBatch

PREFETCH = 2
LANE_BATCH = 256   # samples per pipeline run in a lane (per-operator costs are per run)
HW_DECODER_LOAD = 0.9   # share of JPEGs for the hardware decoder of the card
FRAMES = 64             # images per DALI sample in packed graphs (small images on the GPU)


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


class _Feed:
    """The external_source callables of one pipeline for one pass, one per source (images or
    paths, CPU inputs, GPU operands). Each walks the same run list with its own cursor, so they
    stay in step whatever order DALI calls them in."""

    def __init__(self, loader: "DaliLoader"):
        self.loader = loader
        self.epoch, self.runs = 0, []
        self._at = {}
        self.recent: deque = deque(maxlen=PREFETCH + 2)   # for naming a file that failed

    def start(self, epoch: int, runs: List[np.ndarray]) -> None:
        self.epoch, self.runs = epoch, runs
        self._at = {}

    def source(self, kind: str):
        def next_batch():
            at = self._at.get(kind, 0)
            if at >= len(self.runs):
                raise StopIteration
            self._at[kind] = at + 1
            run = self.runs[at]
            if kind == "images":
                self.recent.append(run)
            return self.loader._feed(kind, self.epoch, run)
        return next_batch


class DaliLoader(EpochLoader):
    """Iterates the views of one shard of a split, realised by DALI pipelines (see
    kdaug.augment.loading.EpochLoader for epochs, batches and layouts). Views are float16 on
    the GPU, float32 on the CPU.

    exact_equalize: PIL's equalize (bit-exact: numpy on the CPU; on the GPU an (H, W, 3, 255)
    staircase, which limits it to in-memory images of at most 64x64) or DALI's (OpenCV's
    formula). Default: exact on the CPU and for small in-memory images on the GPU; DALI's for
    files on the GPU.
    """

    def __init__(self, split: Split, plan: ViewPlan, batch_size: int, *, train: bool,
                 seed: int = 0, device: str = "auto", shard_id: Optional[int] = None,
                 num_shards: Optional[int] = None, num_threads: Optional[int] = None,
                 exact_equalize: Optional[bool] = None, drop_last: Optional[bool] = None,
                 layout: str = "viewbatch", hw_decoder_load: float = HW_DECODER_LOAD,
                 frames: Optional[int] = None):
        self.kind = resolve_device(device)
        super().__init__(split, plan, batch_size, train=train, seed=seed, shard_id=shard_id,
                         num_shards=num_shards, drop_last=drop_last, layout=layout)
        if num_threads is not None and num_threads < 1:
            raise KdaugError(f"number of DALI threads must be >= 1, got {num_threads}")
        _check_images(split, plan)
        self.num_threads = num_threads or default_num_threads()
        arrays = split.images is not None
        library = plan.policy is not None and bool(plan.policy.library)
        if frames is None:   # small in-memory images on the GPU: packs of FRAMES images
            frames = FRAMES if (self.kind == "gpu" and arrays and train and not library and
                                plan.crop in ("pad", "none")) else 0
        if frames and library:
            raise KdaugError(f"packed frames run JDA chains; the {plan.policy.name} policy runs "
                             f"in the per-image graph")
        if frames and not (arrays and plan.crop in ("pad", "none")):
            raise KdaugError("packed frames need in-memory images with the pad or none crop")
        self.frames = int(frames)
        self.lanes = self.num_threads if (self.kind == "cpu" and arrays) else 1
        self._per_run = max(1, LANE_BATCH // batch_size) if self.lanes > 1 else 1
        self.device = (torch.device("cuda", torch.cuda.current_device()) if self.kind == "gpu"
                       else torch.device("cpu"))
        small = arrays and split.images.shape[1] * split.images.shape[2] \
            <= EXACT_EQUALIZE_MAX_PIXELS
        if exact_equalize and self.kind == "gpu" and not small:
            raise KdaugError(f"exact equalize on the GPU is limited to in-memory images of at "
                             f"most {EXACT_EQUALIZE_MAX_PIXELS} pixels (it holds an "
                             f"(H, W, 3, 255) staircase per image)")
        self.exact_equalize = (self.kind == "cpu" or small) if exact_equalize is None \
            else bool(exact_equalize)
        self.hw_decoder_load = hw_decoder_load
        self._sizes = None if arrays else split_sizes(split)
        self._specs = packed_input_specs(plan) if self.frames else \
            input_specs(plan, dynamic=not arrays, gpu=self.kind == "gpu")
        self._labels = torch.as_tensor(split.labels, dtype=torch.int64).to(self.device)
        self._paths = None if arrays else [np.frombuffer(os.fsencode(p), dtype=np.uint8)
                                           for p in split.files]
        self._gpu_images: Optional[torch.Tensor] = None
        self._stream = torch.cuda.Stream(self.device) if self.kind == "gpu" else None
        self._feeds: List[_Feed] = []
        self._pipes: list = []
        self._dirty = False     # a pass stopped early: drain before the next one
        self.builds = 0         # pipelines built so far (once per lane, unless one raised)

    # ------------------------------------------------------------------------ feeding
    def _feed(self, kind: str, epoch: int, run: np.ndarray):
        """What source ``kind`` hands DALI for ``run``: images/paths, or the draws' arrays."""
        if kind == "images":
            return self._source_batch(run)
        hw = self._sizes[run] if self._sizes is not None else \
            np.broadcast_to(self.split.images.shape[1:3], (len(run), 2))
        draws = draw(self.plan, self.seed, epoch, run, shapes=hw)
        if self.frames:
            arrays = packed_input_arrays(self._specs, self.plan, draws, self.frames,
                                         self.split.images.shape[1:3])
        else:
            arrays = input_arrays(self._specs, self.plan, draws, hw)
        return [a for a, spec in zip(arrays, self._specs) if spec.data == (kind == "operands")]

    def _source_batch(self, run: np.ndarray):
        if self._paths is not None:
            return [self._paths[i] for i in run]
        if self.kind == "cpu":
            return self._packed(self.split.images[run], np)
        if self._gpu_images is None:   # CIFAR-size data lives on the GPU for the whole run
            self._gpu_images = torch.from_numpy(np.ascontiguousarray(self.split.images)).to(
                self.device)
        with torch.cuda.stream(self._stream):
            index = torch.from_numpy(run).pin_memory().to(self.device, non_blocking=True)
            return self._packed(self._gpu_images.index_select(0, index), torch)

    def _packed(self, images, lib):
        """(B, H, W, 3) -> (S, F, H, W, 3) packs, the tail padded with the last image."""
        if not self.frames:
            return images
        packs = -(-len(images) // self.frames)
        pad = packs * self.frames - len(images)
        if pad:
            tail = images[-1:]
            images = torch.cat([images, tail.expand(pad, *tail.shape[1:])]) if lib is torch \
                else np.concatenate([images, np.repeat(tail, pad, axis=0)])
        return images.reshape((packs, self.frames) + tuple(images.shape[1:]))

    def _build(self, feed: _Feed):
        per_run = self.batch_size * self._per_run
        # JDA draws nothing inside the graph; a library policy (RandAugment, AutoAugment) draws
        # with DALI's generator, seeded from the loader's seed, shard and lane
        seed = int(np.random.SeedSequence([self.seed, self.shard_id, len(self._pipes)])
                   .generate_state(1)[0] & 0x7FFFFFFF)
        common = dict(batch_size=-(-per_run // self.frames) if self.frames else per_run,
                      num_threads=max(1, self.num_threads // self.lanes),
                      device_id=self.device.index if self.kind == "gpu" else None,
                      prefetch_queue_depth=PREFETCH, seed=seed)
        gpu = self.kind == "gpu"
        stream = self._stream.cuda_stream if gpu else None
        if self.frames:
            pipe = packed_array_pipeline(feed.source("images"), feed.source("params"),
                                         feed.source("operands"), self.plan, self._specs,
                                         gpu=gpu, size=tuple(self.split.images.shape[1:3]),
                                         cuda_stream=stream, **common)
        elif self._paths is not None:
            pipe = file_pipeline(feed.source("images"), feed.source("params"),
                                 feed.source("operands"), self.plan, self._specs, gpu=gpu,
                                 exact_equalize=self.exact_equalize,
                                 max_side=int(self._sizes.max()),
                                 max_hw=tuple(int(x) for x in self._sizes.max(axis=0)),
                                 hw_decoder_load=self.hw_decoder_load, **common)
        else:
            pipe = array_pipeline(feed.source("images"), feed.source("params"),
                                  feed.source("operands"), self.plan, self._specs, gpu=gpu,
                                  exact_equalize=self.exact_equalize,
                                  size=tuple(self.split.images.shape[1:3]),
                                  cuda_stream=stream, **common)
        pipe.build()
        self.builds += 1
        return pipe

    # ---------------------------------------------------------------------- iteration
    def _ready_pipes(self, lanes: int):
        """Pipelines for ``lanes`` lanes, built once and reset between passes."""
        if self._dirty:   # a pass stopped early: let in-flight runs finish, then reset
            for feed, pipe in zip(self._feeds, self._pipes):
                feed.start(feed.epoch, [])
                _drain(pipe)
            self._dirty = False
        while len(self._pipes) < lanes:
            feed = _Feed(self)
            self._feeds.append(feed)
            self._pipes.append(self._build(feed))
        return self._feeds[:lanes], self._pipes[:lanes]

    def _runs(self, epoch: int, chunks: List[np.ndarray]):
        """Outputs of each run of the pass as torch tensors (views (b, V, 3, S, S)), with the
        run's chunks."""
        per_run = self._per_run
        runs = [chunks[r:r + per_run] for r in range(0, len(chunks), per_run)]
        lanes = max(1, min(self.lanes, len(runs)))
        feeds, pipes = self._ready_pipes(lanes)
        for lane, feed in enumerate(feeds):
            feed.start(epoch, [np.concatenate(run) for run in runs[lane::lanes]])
        self._dirty = True
        for r, run in enumerate(runs):
            pipe = pipes[r % lanes]
            try:
                outputs = pipe.run(**self._run_args())
            except Exception as e:   # the pipeline is dead after an error (dali-notes 9)
                explained = self._explain(e)
                self._discard_pipes()
                if explained is e:
                    raise
                raise explained from e
            views = self._views(outputs)
            if self.frames:   # (S, F, V, 3, s, s) packs -> (B, V, 3, s, s), padding dropped
                views = views.flatten(0, 1)[:sum(len(chunk) for chunk in run)]
            yield views, run
        for pipe in pipes:            # end of pass: each source raises StopIteration once
            _drain(pipe)
        self._dirty = False

    def _run_args(self) -> dict:
        if self.kind != "gpu":
            return {}
        return {"cuda_stream": torch.cuda.current_stream(self.device).cuda_stream}

    def _discard_pipes(self) -> None:
        self._pipes, self._feeds, self._dirty = [], [], False

    def _batches(self, epoch: int, chunks: List[np.ndarray]) -> Iterator[ViewBatch]:
        for views, run in self._runs(epoch, chunks):
            start = 0
            for chunk in run:   # the run's batches, in order
                yield self._batch(views[start:start + len(chunk)], chunk)
                start += len(chunk)

    def _batch(self, views: torch.Tensor, chunk: np.ndarray) -> ViewBatch:
        index = torch.from_numpy(chunk)
        if self.kind == "gpu":
            index = index.pin_memory().to(self.device, non_blocking=True)
        rotation = None if self._rotation is None else self._rotation.to(self.device)
        return ViewBatch(views, self._labels[index], index, rotation)

    def iter_with_gates(self) -> Iterator[Tuple[ViewBatch, Optional[torch.Tensor],
                                                Optional[torch.Tensor]]]:
        """Like iter(), with which JDA steps fired, from the draws: (batch, fired (B, V, L)
        bool, signs (B, V, L) int8); rows of views without a chain are all False. None, None
        for plans without a chain."""
        for batch in self.batches():
            if self.plan.policy is None:
                yield batch, None, None
                continue
            chunk = batch.index.cpu().numpy()
            shapes = self._sizes[chunk] if self._sizes is not None \
                else self.split.images.shape[1:3]
            draws = draw(self.plan, self.seed, self.epoch, chunk, shapes=shapes)
            yield batch, torch.from_numpy(draws.fired), torch.from_numpy(draws.signs)

    def _views(self, outputs) -> torch.Tensor:
        """Pipeline outputs -> (b, V, 3, S, S): on the CPU one copy per view into the batch
        tensor, on the GPU one copy of the stacked output (DALI reuses its buffers, so a copy
        is needed anyway)."""
        if isinstance(outputs[0], TensorListGPU) or self.frames:   # one stacked output
            if not isinstance(outputs[0], TensorListGPU):
                return torch.from_numpy(np.array(outputs[0].as_tensor(), copy=True))
            dense = outputs[0].as_tensor()
            out = torch.empty(dense.shape(), dtype=to_torch_type[dense.dtype], device=self.device)
            feed_ndarray(dense, out, cuda_stream=torch.cuda.current_stream(self.device))
            return out
        first = outputs[0].as_tensor()
        out = torch.empty((first.shape()[0], len(outputs)) + tuple(first.shape()[1:]),
                          dtype=to_torch_type[first.dtype])
        array = out.numpy()
        for v, view in enumerate(outputs):
            np.copyto(array[:, v], np.asarray(view.as_tensor()))
        return out

    def _explain(self, error: Exception) -> Exception:
        """A decode failure in a file source becomes a KdaugError naming the bad file(s)."""
        if self.split.files is None or not self._feeds:
            return error
        suspects = sorted({int(i) for feed in self._feeds for run in feed.recent for i in run})
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


def _drain(pipe) -> None:
    """Run ``pipe`` until its sources are exhausted, then reset it for the next pass."""
    while True:
        try:
            pipe.run()
        except StopIteration:
            break
    pipe.reset()


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
