"""Top-k accuracy and per-epoch metric logs (CSV for spreadsheets, JSON for scripts)."""
from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Dict, List, Sequence

import torch


def topk_correct(logits: torch.Tensor, labels: torch.Tensor, ks: Sequence[int] = (1, 5)) -> List[int]:
    """Number of samples whose label is among the k highest logits, for each k."""
    kmax = min(max(ks), logits.shape[1])
    top = logits.topk(kmax, dim=1).indices
    hit = top.eq(labels.view(-1, 1))
    return [int(hit[:, : min(k, kmax)].any(dim=1).sum()) for k in ks]


class MetricLog:
    """Appends one row per epoch to metrics.csv and rewrites metrics.json atomically."""

    def __init__(self, run_dir: Path, rows: List[Dict] = None):
        self.csv = Path(run_dir) / "metrics.csv"
        self.json = Path(run_dir) / "metrics.json"
        self.rows: List[Dict] = list(rows or [])

    def append(self, row: Dict) -> None:
        self.rows.append(row)
        keys = list(dict.fromkeys(k for r in self.rows for k in r))
        tmp = self.csv.with_suffix(".csv.tmp")
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=keys)
            w.writeheader()
            w.writerows(self.rows)
        os.replace(tmp, self.csv)
        tmp = self.json.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.rows, indent=1))
        os.replace(tmp, self.json)
