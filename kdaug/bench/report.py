"""A benchmark result as rich tables (terminal), Markdown (benchmarks/RESULTS.md) and a plot.

All three render the same cells (``_cells``), so a README table can never disagree with the
terminal output of the run that made it.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

from kdaug.bench.backends import LABELS
from kdaug.errors import KdaugError

Table = Tuple[str, List[str], List[List[str]]]   # title, header, rows


def _num(x: Optional[float]) -> str:
    if x is None:
        return "-"
    return f"{x:,.0f}" if x >= 100 else f"{x:,.1f}" if x >= 10 else f"{x:,.2f}"


def _ratio(row: dict) -> str:
    r = row.get("ratio_to_reference")
    return "-" if r is None else f"{r:,.0f}x" if r >= 100 else f"{r:.2f}x"


def _spread(row: dict) -> str:
    return f"{100 * row['views_per_s']['spread']:.0f}%"


def _epochs(row: dict) -> str:
    """Epoch boundaries inside a measurement (each may rebuild a pipeline or re-prime workers)
    are part of its time; say so."""
    n = row.get("epochs_begun", 1)
    return f"{n} epochs" if n > 1 else ""


def _unavailable_rows(rows: Sequence[dict], width: int, lead: int) -> List[List[str]]:
    """One line per unavailable backend (not one per source and V): listed, never dropped."""
    seen, out = set(), []
    for row in rows:
        if "unavailable" in row and row["backend"] not in seen:
            seen.add(row["backend"])
            out.append(["all"] + [""] * (lead - 1) + [LABELS[row["backend"]]]
                       + [""] * (width - lead - 2) + [f"unavailable: {row['unavailable']}"])
    return out


def loader_table(result: Dict) -> Table:
    device = result["context"]["training_device"]
    header = ["source", "V", "backend", "views/s", "images/s", "spread", "vs reference",
              "dtype", "startup s", "note"]
    rows = []
    for r in result["loader"]:
        if "unavailable" in r or r["backend"] == "synthetic":   # the ceiling: shown apart
            continue
        cells = [r["source"], str(r["views"]), LABELS[r["backend"]]]
        if "failed" in r:
            rows.append(cells + ["-"] * 6 + [f"FAILED: {r['failed']}"])
            continue
        rows.append(cells + [_num(r["views_per_s"]["median"]), _num(r["images_per_s"]["median"]),
                             _spread(r), _ratio(r), r["dtype"], f"{r['startup_s']:.1f}",
                             _epochs(r)])
    rows += _unavailable_rows(result["loader"], len(header), 2)
    return f"Loader only: views delivered to {device}", header, rows


def e2e_table(result: Dict) -> Table:
    device = result["context"]["training_device"]
    header = ["pair", "backend", "V", "batch", "views/s", "spread", "vs reference",
              "data stall", "note"]
    rows = []
    for r in result["end_to_end"]:
        if "unavailable" in r:
            continue
        cells = [r["pair"], LABELS[r["backend"]], str(r["views"]), str(r["batch_size"])]
        if "failed" in r:
            rows.append(cells + ["-"] * 4 + [f"FAILED: {r['failed']}"])
            continue
        stall = r.get("stall_share")
        note = ", ".join(x for x in (_epochs(r), f"GPU peak {r['gpu_memory_peak_mb']:,.0f} MiB"
                                     if "gpu_memory_peak_mb" in r else "") if x)
        rows.append(cells + [_num(r["views_per_s"]["median"]), _spread(r), _ratio(r),
                             "-" if stall is None else f"{100 * stall:.0f}%", note])
    rows += _unavailable_rows(result["end_to_end"], len(header), 1)
    return f"End to end: KD training steps on {device}", header, rows


def _figure_value(f: dict) -> str:
    if f["quantity"] == "ratio_to_reference":
        return f"{f['value']:.2f}x"
    if f["quantity"] == "stall_share":
        return f"{100 * f['value']:.1f}%"
    return f"{_num(f['value'])} {f['quantity'].replace('_per_s', '/s')}"


def _figure_target(f: dict) -> str:
    if not f.get("target"):
        return ""
    op, goal = f["target"]
    shown = (f"{goal:g}x" if f["quantity"] == "ratio_to_reference" else
             f"{100 * goal:g}%" if f["quantity"] == "stall_share" else f"{goal:,.0f}")
    return f"{op} {shown}"


def figures_table(result: Dict) -> Table:
    header = ["figure", "backend", "value", "target", "met"]
    rows = []
    for f in result["figures"]:
        value = f"unavailable: {f['unavailable']}" if "unavailable" in f else _figure_value(f)
        met = "" if "met" not in f else ("yes" if f["met"] else "NO")
        rows.append([f["what"], LABELS[f["backend"]], value, _figure_target(f), met])
    return "Targets (same run)", header, rows


def ceiling_table(result: Dict) -> Table:
    """The synthetic source apart: a ceiling (pre-made views already on the device), not a
    competitor."""
    rows = [[r["source"], str(r["views"]), _num(r["views_per_s"]["median"])]
            for r in result["loader"] if r["backend"] == "synthetic" and "views_per_s" in r]
    return ("Ceiling: pre-made views already on the device (what the loop can take)",
            ["source", "V", "views/s"], rows)


def context_lines(result: Dict) -> List[str]:
    c = result["context"]
    gpu = c["gpu"]
    mem = c["gpu_memory_peak"]
    t = c["threads"]
    v = c["versions"]
    lines = [
        f"date {result['date']}, {result['duration_s']:.0f}s, "
        f"preset {result['settings']['preset']}",
        f"machine: {c['cpu_cores_used']} CPU cores used of {c['cpu_cores_machine']} "
        f"({c['cpu_model']}); load average {c['load_average_start']} at start, "
        f"{c['load_average_end']} at end",
        "GPU: " + (f"{gpu['name']} ({gpu['memory_total_mb']:,.0f} MiB)" if gpu else "none")
        + (f"; peak memory: torch {mem['torch_allocated_peak_mb']:,.0f} MiB, device "
           f"{mem['device_used_peak_mb']:,.0f} MiB" if mem else ""),
        f"threads: reference DataLoader workers {t['reference_workers']}, DALI num_threads "
        f"{t['dali_num_threads']}, torch {t['torch_threads_loader_only']} (loader only) / "
        f"{t['torch_threads_end_to_end']} (end to end)",
        "batch: " + ", ".join(f"{k} {v}" for k, v in _batches(result).items()),
        "versions: " + ", ".join(f"{k} {val}" for k, val in v.items() if val),
        "timing: warm-up excluded; median and spread ((max-min)/median) of "
        f"{result['settings']['windows']} timed windows; randomness {result['randomness']}",
    ]
    for b in result["backends"]:
        lines.append(f"{b['label']}: {b['description']}")
    for name, src in result["sources"].items():
        desc = ", ".join(f"{k} {val}" for k, val in src.items() if k != "kind")
        lines.append(f"source {name}: {src['kind']} ({desc})")
    return lines


def _batches(result: Dict) -> Dict[str, int]:
    """Images per batch of each measured kind of row (same for every backend)."""
    out = {}
    for r in result["loader"]:
        out.setdefault(f"{r['source']} loader", r["batch_size"])
    for r in result["end_to_end"]:
        out.setdefault(r["pair"], r["batch_size"])
    return out


def op_table(result: Dict) -> Table:
    """Per-step cost of the JDA chain: each step timed alone in the real graph, firing on every
    image (kdaug.bench.op_timing), for each DALI backend and source."""
    rows = []
    for r in result.get("op_timing", []):
        if "failed" in r:
            rows.append([r["source"], LABELS[r["backend"]], "all", "-", "-", f"FAILED: {r['failed']}"])
            continue
        rows.append([r["source"], LABELS[r["backend"]], r["op"], f"{r['us_per_image']:.1f}",
                     _num(r["images_per_s_fired"]), ""])
    return ("Per-step cost of the JDA chain: microseconds per image when the step fires",
            ["source", "backend", "step", "us/image", "images/s fired", "note"], rows)


def tables(result: Dict) -> List[Table]:
    out = [loader_table(result), ceiling_table(result), e2e_table(result), op_table(result)]
    if result["loader"]:
        out.append(figures_table(result))
    return out


def print_report(result: Dict, console) -> None:
    from rich.table import Table as RichTable

    for title, header, rows in tables(result):
        if not rows:
            continue
        table = RichTable(title=title, title_justify="left")
        for col in header:
            numeric = col in ("V", "batch", "views/s", "images/s", "spread", "vs reference",
                              "startup s", "data stall", "value", "us/image",
                              "images/s fired")
            table.add_column(col, justify="right" if numeric else "left",
                             overflow="fold")
        for row in rows:
            table.add_row(*row)
        console.print(table)
    for line in context_lines(result):
        console.print(line, highlight=False, soft_wrap=True)


def markdown(result: Dict) -> str:
    """The run's tables and context as Markdown, for benchmarks/RESULTS.md."""
    parts = []
    if result.get("command"):
        parts.append(f"Command: `{result['command']}`\n")
    if not result.get("complete", True):
        parts.append("**Incomplete run** (stopped before its last row).\n")
    parts.append("**Headline**\n")
    parts.append(headline(result))
    for title, header, rows in tables(result):
        if not rows:
            continue
        parts.append(f"**{title}**\n")
        parts.append("| " + " | ".join(header) + " |")
        parts.append("|" + "|".join("---:" if h not in ("source", "backend", "pair", "note",
                                                          "figure", "target", "met",
                                                          "value", "step") else "---"
                                    for h in header) + "|")
        parts.extend("| " + " | ".join(c.replace("|", "/") for c in row) + " |" for row in rows)
        parts.append("")
    parts.extend(f"- {line}" for line in context_lines(result))
    return "\n".join(parts) + "\n"


def headline(result: Dict, views: int = 2) -> str:
    """The README's table: per backend, loader-only JDA views/s at ``views`` views on each
    source and end-to-end KD views/s with the data stall, ratios to the reference, plus the
    machine that made it."""
    sources = list(dict.fromkeys(r["source"] for r in result["loader"]))
    pairs = list(dict.fromkeys(r["pair"] for r in result["end_to_end"]))
    names = {"arrays": "CIFAR-style", "jpeg": "ImageNet-style JPEG"}
    header = (["backend"] + [f"{names.get(s, s)} JDA V={views}, loader views/s" for s in sources]
              + [f"KD {p}, training views/s" for p in pairs])
    lines = ["| " + " | ".join(header) + " |", "|---" + "|---:" * (len(header) - 1) + "|"]
    for b in result["backends"]:
        cells = [b["label"]]
        for source in sources:
            row = _row(result["loader"], b["name"], source=source, views=views)
            cells.append(_headline_cell(row))
        for pair in pairs:
            row = _row(result["end_to_end"], b["name"], pair=pair)
            cells.append(_headline_cell(row))
        lines.append("| " + " | ".join(cells) + " |")
    c = result["context"]
    gpu = c["gpu"]["name"] if c["gpu"] else "no GPU"
    lines.append("")
    lines.append(f"Measured by `{result.get('command') or 'kdaug bench'}` on "
                 f"{result['date'][:10]}: "
                 f"{c['cpu_cores_used']} CPU cores ({c['cpu_model']}), {gpu}, training on "
                 f"{c['training_device']}; DALI {c['versions'].get('dali')}, torch "
                 f"{c['versions']['torch']}. Ratios compare with the reference CPU pipeline "
                 f"(PIL through a DataLoader with {c['threads']['reference_workers']} workers) "
                 f"measured in the same run.")
    return "\n".join(lines) + "\n"


def _row(rows: Sequence[dict], backend: str, **match) -> Optional[dict]:
    for r in rows:
        if r["backend"] == backend and all(r.get(k) == v for k, v in match.items()):
            return r
    return None


def _headline_cell(row: Optional[dict]) -> str:
    if row is None:
        return "not measured"
    if "unavailable" in row:
        return "unavailable"
    if "failed" in row:
        return "failed"
    stall = f", {100 * row['stall_share']:.0f}% stall" if "stall_share" in row else ""
    return f"{_num(row['views_per_s']['median'])} ({_ratio(row)}{stall})"


def check_plot_support() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise KdaugError("--plot needs matplotlib: pip install 'kdaug[plot]'") from None


def plot(result: Dict, path: str) -> None:
    """One panel per source: loader-only views/s of each backend against V (log scale; the
    synthetic ceiling, orders of magnitude above, is written in rather than drawn), and one
    panel of end-to-end training views/s per pair and backend."""
    check_plot_support()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import ScalarFormatter

    sources = list(dict.fromkeys(r["source"] for r in result["loader"]))
    e2e = [r for r in result["end_to_end"] if "views_per_s" in r]
    panels = len(sources) + (1 if e2e else 0)
    if panels == 0:
        raise KdaugError("--plot: the run measured nothing to plot")
    fig, axes = plt.subplots(1, panels, figsize=(5.5 * panels, 4.5), squeeze=False)
    for ax, source in zip(axes[0], sources):
        rows = [r for r in result["loader"] if r["source"] == source and "views_per_s" in r]
        for backend in dict.fromkeys(r["backend"] for r in rows):
            pts = sorted((r["views"], r["views_per_s"]) for r in rows if r["backend"] == backend)
            med = [p[1]["median"] for p in pts]
            if backend == "synthetic":
                ax.text(0.02, 0.98, f"synthetic ceiling: {min(med):.2g} views/s or more",
                        transform=ax.transAxes, va="top", fontsize=8)
                continue
            err = [[m - p[1]["min"] for m, p in zip(med, pts)],
                   [p[1]["max"] - m for m, p in zip(med, pts)]]
            ax.errorbar([p[0] for p in pts], med, yerr=err, marker="o", capsize=3,
                        label=LABELS[backend])
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(sorted({r["views"] for r in rows}))
        ax.get_xaxis().set_major_formatter(ScalarFormatter())
        ax.set_xlabel("views per image (V)")
        ax.set_ylabel("views/s (median; bars: min-max)")
        ax.set_title(f"loader only: {source}")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8, loc="lower left")
    if e2e:
        ax = axes[0][-1]
        pairs = list(dict.fromkeys(r["pair"] for r in e2e))
        backends = list(dict.fromkeys(r["backend"] for r in e2e))
        width = 0.8 / len(backends)
        for i, backend in enumerate(backends):
            xs, ys = [], []
            for j, pair in enumerate(pairs):
                row = _row(e2e, backend, pair=pair)
                if row is not None:
                    xs.append(j + i * width)
                    ys.append(row["views_per_s"]["median"])
            ax.bar(xs, ys, width, label=LABELS[backend])
        ax.set_xticks([j + 0.4 - width / 2 for j in range(len(pairs))])
        ax.set_xticklabels(pairs, fontsize=8)
        ax.set_ylabel("training views/s (median)")
        ax.set_title(f"end to end: KD steps on {result['context']['training_device']}")
        ax.legend(fontsize=8)
    c = result["context"]
    gpu = c["gpu"]["name"] if c["gpu"] else "no GPU"
    fig.suptitle(f"kdaug bench, {c['cpu_cores_used']} CPU cores, {gpu}, {result['date'][:10]}")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
