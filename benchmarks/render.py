"""Render a `kdaug bench --json` result again: Markdown tables, the README headline, the plot.

    python benchmarks/render.py RESULT.json                   the headline table (for README.md)
    python benchmarks/render.py RESULT.json --markdown OUT.md --plot OUT.png

Useful for a run cut short (its JSON holds every row finished) and for the README, whose table
is pasted from here, never typed.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from kdaug.bench import report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("result", help="JSON written by kdaug bench --json")
    parser.add_argument("--markdown", help="write every table and the context here")
    parser.add_argument("--plot", help="write the PNG plot here (needs matplotlib)")
    args = parser.parse_args()
    result = json.loads(Path(args.result).read_text())
    if args.markdown:
        Path(args.markdown).write_text(report.markdown(result))
    if args.plot:
        report.plot(result, args.plot)
    if not (args.markdown or args.plot):
        print(report.headline(result), end="")


if __name__ == "__main__":
    main()
