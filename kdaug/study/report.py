"""A study's results as a table (Markdown, or rows for the terminal) and a PNG plot."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional

from kdaug.study.stats import mean_std

COLUMNS = ("", "method", "model", "views", "top-1 (mean ± std)", "vs", "Δ top-1 (paired)",
           "seeds higher", "difference")


def heading(result: Dict) -> str:
    seeds = result["seeds"]
    data = result["dataset"] + (f", {result['few_shot']:.0%} of the training split"
                                if result.get("few_shot") else "")
    return (f"{result['question']} ({data}; final top-1 on the validation split, mean ± std over "
            f"{len(seeds)} seed{'s' if len(seeds) != 1 else ''} {_seed_list(seeds)}, "
            f"{result['epochs']} epochs)")


def _seed_list(seeds: List[int]) -> str:
    return f"[{', '.join(str(s) for s in seeds)}]"


def rows(result: Dict) -> List[List[str]]:
    labels = {a["key"]: a["label"] for a in result["arms"]}
    out = []
    for t in result["teachers"]:
        out.append([t["label"], t["method"], t["arch"], _views(t), f"{t['top1']:.2f} (one run)",
                    "", "", "", ""])
    for a in result["arms"]:
        vs = a.get("vs")
        out.append([a["label"], a["method"], a["arch"], _views(a), mean_std(a["top1"]),
                    labels.get(a["against"], "") if a["against"] else "",
                    (f"{vs['mean']:+.2f}" + (f" ± {vs['std']:.2f}" if vs["std"] is not None else ""))
                    if vs else "",
                    f"{vs['higher']}/{vs['n']}" if vs else "", a.get("verdict", "")])
    return out


def _views(run: Dict) -> str:
    """'2 jda', '4 rotation +JDA', '1 plain' (older records: the count alone)."""
    family = run.get("view_family")
    extra = " +JDA" if run.get("jda") and family not in (None, "jda") else ""
    return f"{run['views']}" + (f" {family}" if family else "") + extra


def markdown(result: Dict, command: Optional[str] = None) -> str:
    lines = [f"**{heading(result)}**", ""]
    lines.append("| " + " | ".join(COLUMNS) + " |")
    lines.append("|" + "|".join("---" for _ in COLUMNS) + "|")
    for r in rows(result):
        lines.append("| " + " | ".join(r) + " |")
    lines += ["", "Δ: the arm minus the arm it is compared with, seed by seed (same seed: same "
                  "data subset and initial weights); *beyond the spread*: a paired t-test at 95%."]
    if command:
        lines += ["", f"Made by `{command}`."]
    return "\n".join(lines) + "\n"


def plot(result: Dict, path: Path) -> Optional[Path]:
    """results.png: bars with ±std whiskers, or top-1 against x with one curve per group; the
    teachers as dashed lines. None when matplotlib is not installed."""
    from kdaug.engine.curves import matplotlib_available

    if not matplotlib_available():
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.2), dpi=110)
    arms = result["arms"]
    if result["plot"] == "curve":
        curves: Dict[str, List[Dict]] = {}
        for a in arms:
            curves.setdefault(a["curve"] or a["label"], []).append(a)
        for name, group in curves.items():
            group = sorted(group, key=lambda a: a["x"])
            ax.errorbar([a["x"] for a in group], [a["top1"]["mean"] for a in group],
                        yerr=[a["top1"]["std"] or 0 for a in group], marker="o", capsize=4,
                        label=name)
        ax.set_xlabel(result["xlabel"])
        if len(curves) > 1 or result["teachers"]:
            ax.legend(fontsize=8)
    else:
        xs = range(len(arms))
        ax.bar(xs, [a["top1"]["mean"] for a in arms], yerr=[a["top1"]["std"] or 0 for a in arms],
               capsize=5, color="#4C72B0")
        ax.set_xticks(list(xs), [a["label"] for a in arms], rotation=15, ha="right", fontsize=8)
        low = min(a["top1"]["mean"] - (a["top1"]["std"] or 0) for a in arms)
        ax.set_ylim(max(0.0, low - 5), None)
    for t in result["teachers"]:
        ax.axhline(t["top1"], linestyle="--", linewidth=1, color="grey")
        ax.annotate(t["label"], (0.01, t["top1"]), xycoords=("axes fraction", "data"),
                    fontsize=7, va="bottom", color="grey")
    ax.set_ylabel("final top-1 (%)")
    ax.set_title(_wrap(heading(result)), fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _wrap(text: str, width: int = 100) -> str:
    words, lines, line = text.split(), [], ""
    for w in words:
        if len(line) + len(w) + 1 > width:
            lines.append(line)
            line = w
        else:
            line = f"{line} {w}".strip()
    return "\n".join(lines + [line])
