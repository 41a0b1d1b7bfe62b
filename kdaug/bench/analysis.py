"""Numbers derived from one run's rows: every ratio compares two measurements of the same run,
never a number from elsewhere."""
from __future__ import annotations

from typing import Dict, List, NamedTuple, Optional, Tuple

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
    rows: str              # loader | end_to_end
    match: dict            # which row: source and V, or the pair
    backend: str
    quantity: str          # views_per_s | images_per_s | ratio_to_reference | stall_share
    target: Optional[Tuple[str, float]]   # (">=" or "<=", value): kdaug's target for it


# kdaug's targets for its GPU path and its CPU default, each read off this run's rows (on a
# machine without a GPU the GPU rows say why they are missing).
FIGURES = (
    Figure("imagenet_jda_v2_gpu", "ImageNet-style JDA V=2 on the GPU (decode, JDA chain, RRC "
           "224, flip, normalise)", "loader", {"source": "jpeg", "views": 2}, "dali-gpu",
           "images_per_s", (">=", 20000)),
    Figure("imagenet_v1_gpu", "ImageNet-style V=1 on the GPU (decode, RRC 224, flip, "
           "normalise)", "loader", {"source": "jpeg", "views": 1}, "dali-gpu", "images_per_s",
           (">=", 20000)),
    Figure("cifar_jda_v2_gpu", "CIFAR-style JDA V=2 from GPU memory", "loader",
           {"source": "arrays", "views": 2}, "dali-gpu", "views_per_s", (">=", 500000)),
    Figure("stall_imagenet_gpu", "Data stall, KD resnet34->resnet18 @224, V=2, DALI GPU",
           "end_to_end", {"pair_key": "imagenet"}, "dali-gpu", "stall_share", ("<=", 0.05)),
    Figure("cifar_jda_v2_cpu", "CIFAR-style JDA V=2, DALI CPU vs the reference, same cores",
           "loader", {"source": "arrays", "views": 2}, "dali-cpu", "ratio_to_reference",
           (">=", 4.0)),
    Figure("jpeg_jda_v2_cpu", "ImageNet-style JDA V=2, DALI CPU vs the reference, same cores "
           "(on the CPU, --backend auto takes the reference for image files)", "loader",
           {"source": "jpeg", "views": 2}, "dali-cpu", "ratio_to_reference", (">=", 1.0)),
)


def figures(result: Dict) -> List[dict]:
    out = []
    for fig in FIGURES:
        item = {"key": fig.key, "what": fig.what, "backend": fig.backend,
                "quantity": fig.quantity, "target": list(fig.target) if fig.target else None}
        row = _find(result[fig.rows], fig.backend, **fig.match)
        if row is None or not measured(row) or fig.quantity not in row:
            why = "not measured in this run"
            if row is not None:
                why = row.get("unavailable") or row.get("failed") or why
            item["unavailable"] = why
        else:
            value = row[fig.quantity]
            item["value"] = value["median"] if isinstance(value, dict) else value
            if fig.target is not None:
                op, goal = fig.target
                item["met"] = item["value"] >= goal if op == ">=" else item["value"] <= goal
        out.append(item)
    return out


def annotate(result: Dict) -> Dict:
    add_ratios(result["loader"], ("source", "views"))
    add_ratios(result["end_to_end"], ("pair_key",))
    add_stall(result["end_to_end"])
    result["figures"] = figures(result)
    return result
