"""What a number needs beside it to be believed: the machine, the threads, the GPU memory it
took, and the library versions."""
from __future__ import annotations

import os
import platform
from typing import Optional

import torch

MB = 1024 * 1024


def usable_cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def cpu_model() -> Optional[str]:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def load_average():
    """1/5/15-minute load: other processes on the machine would skew every row."""
    return [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None


def versions() -> dict:
    import numpy
    import PIL

    import kdaug

    out = {"kdaug": kdaug.__version__, "python": platform.python_version(),
           "torch": torch.__version__, "numpy": numpy.__version__, "pillow": PIL.__version__}
    for name, module in (("torchvision", "torchvision"), ("dali", "nvidia.dali")):
        try:
            out[name] = __import__(module, fromlist=["__version__"]).__version__
        except Exception:
            out[name] = None
    out["cuda"] = torch.version.cuda if torch.cuda.is_available() else None
    return out


class GpuMemory:
    """Peak GPU memory: torch's allocator (models, activations, tensors handed over) and the
    whole device as the driver sees it, which also counts DALI's own memory pools."""

    def __init__(self, device: torch.device):
        self.cuda = device.type == "cuda"
        self.device = device
        self.torch_peak = 0
        self.device_peak = 0

    def start_row(self) -> None:
        if self.cuda:
            torch.cuda.reset_peak_memory_stats(self.device)

    def end_row(self) -> Optional[float]:
        """Sample after a measurement (before its loader is released); the row's torch peak
        in MiB, or None off the GPU."""
        if not self.cuda:
            return None
        torch.cuda.synchronize(self.device)
        free, total = torch.cuda.mem_get_info(self.device)
        self.device_peak = max(self.device_peak, total - free)
        row_peak = torch.cuda.max_memory_allocated(self.device)
        self.torch_peak = max(self.torch_peak, row_peak)
        return row_peak / MB

    def to_dict(self) -> Optional[dict]:
        if not self.cuda:
            return None
        return {"torch_allocated_peak_mb": self.torch_peak / MB,
                "device_used_peak_mb": self.device_peak / MB}


def machine(device: torch.device, threads: dict, memory: GpuMemory) -> dict:
    gpu = None
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        gpu = {"name": props.name, "memory_total_mb": props.total_memory / MB,
               "count": torch.cuda.device_count()}
    return {"cpu_cores_used": usable_cores(), "cpu_cores_machine": os.cpu_count(),
            "cpu_model": cpu_model(), "platform": platform.platform(),
            "load_average_end": load_average(),
            "training_device": str(device), "gpu": gpu, "gpu_memory_peak": memory.to_dict(),
            "threads": threads, "versions": versions()}
