"""Numbers derived from one run's rows: every ratio compares two measurements of the same run,
never a number from elsewhere."""
from __future__ import annotations

from typing import Dict, List, NamedTuple, Optional

REFERENCE = "reference"
CEILING = "synthetic"


def measured(row: dict) -> bool:
    return "views_per_s" in row


def median(row: dict, key: str = "views_per_s") -> float:
    return row[key]["median"]


def _find(rows: List[dict], backend: str, **match) -> Optional[dict]:
    for row in rows:
        if row["backend"] == backend and all(row.get(k) == v for k, v in match.items()):
            return row
    return None


def add_ratios(rows: List[dict], group: tuple) -> None:
    """ratio_to_reference = views/s / the reference's views/s in the same group (same source
    and V, or same pair); absent when the reference row was not measured."""
    for row in rows:
        if not measured(row):
            continue
        ref = _find(rows, REFERENCE, **{k: row[k] for k in group})
        if ref is not None and measured(ref):
            row["ratio_to_reference"] = median(row) / median(ref)


def add_stall(rows: List[dict]) -> None:
    """Data-stall share of a step: 1 - views/s / the synthetic source's views/s for the same
    pair, i.e. the fraction of step time spent waiting for data (0 when within noise)."""
    for row in rows:
        if not measured(row):
            continue
        ceiling = _find(rows, CEILING, pair_key=row["pair_key"])
        if ceiling is not None and measured(ceiling):
            row["stall_share"] = max(0.0, 1.0 - median(row) / median(ceiling))


class Figure(NamedTuple):
    key: str
    what: str
    match: dict            # the loader row: source and V
    backend: str
    quantity: str          # views_per_s | images_per_s
    target: Optional[float]  # ratio to the reference the issue asks for, if it names one


# The figures the JDA-on-GPU issue asks for, each read off this run's loader-only rows.
FIGURES = (
    Figure("imagenet_jda_v2", "ImageNet-style JDA, V=2 (decode, JDA chain, RRC 224, flip, "
           "normalise)", {"source": "jpeg", "views": 2}, "dali-gpu", "views_per_s", None),
    Figure("imagenet_v1", "ImageNet-style, V=1 (decode, RRC 224, flip, normalise)",
           {"source": "jpeg", "views": 1}, "dali-gpu", "images_per_s", None),
    Figure("cifar_jda_v2_gpu", "CIFAR-style JDA from memory on the GPU, V=2",
           {"source": "arrays", "views": 2}, "dali-gpu", "views_per_s", None),
    Figure("cifar_jda_v2_cpu", "CIFAR-style JDA, DALI CPU vs the reference on the same cores, "
           "V=2", {"source": "arrays", "views": 2}, "dali-cpu", "views_per_s", 1.5),
)


def figures(result: Dict) -> List[dict]:
    out = []
    for fig in FIGURES:
        item = {"key": fig.key, "what": fig.what, "backend": fig.backend,
                "quantity": fig.quantity, "target_ratio": fig.target}
        row = _find(result["loader"], fig.backend, **fig.match)
        ref = _find(result["loader"], REFERENCE, **fig.match)
        if row is None or not measured(row):
            why = "not measured in this run"
            if row is not None:
                why = row.get("unavailable") or row.get("failed") or why
            item["unavailable"] = why
        else:
            item["value"] = median(row, fig.quantity)
            if ref is not None and measured(ref):
                item["reference"] = median(ref, fig.quantity)
                item["ratio"] = item["value"] / item["reference"]
                if fig.target is not None:
                    item["met"] = item["ratio"] >= fig.target
        out.append(item)
    return out


def annotate(result: Dict) -> Dict:
    add_ratios(result["loader"], ("source", "views"))
    add_ratios(result["end_to_end"], ("pair_key",))
    add_stall(result["end_to_end"])
    result["figures"] = figures(result)
    return result
