"""Start-up time of the kdaug command: how long `kdaug --help`, `kdaug list ...` and
`kdaug train --help` take to answer, each in a fresh process (what a user waits for).

    python benchmarks/startup.py                      a table, then the JSON
    python benchmarks/startup.py --repeat 10 --json startup.json

Each command runs --repeat times after one untimed warm-up run (which fills the OS page
cache); the table shows the median, min and max wall time and whether the command imported
torch. `python -c pass` is timed the same way as the floor: the interpreter's own start.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = [["--help"], ["list", "models"], ["list", "methods"], ["list", "datasets"],
            ["list", "policies"], ["train", "--help"]]
# runs the CLI as `kdaug` would, then reports on stderr whether torch was imported
PROBE = ("import atexit, sys\n"
         "atexit.register(lambda: sys.stderr.write('\\ntorch imported: %s\\n' % ('torch' in sys.modules)))\n"
         "sys.argv = ['kdaug'] + sys.argv[1:]\n"
         "from kdaug.cli.main import main\n"
         "main()\n")


def timed(argv, env) -> tuple:
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()[-300:]}")
    return elapsed, "torch imported: True" in proc.stderr


def measure(args, repeat: int, env) -> dict:
    argv = [sys.executable, "-c", PROBE, *args] if args is not None else [sys.executable, "-c", "pass"]
    timed(argv, env)  # warm-up: page cache, .pyc files
    runs = [timed(argv, env) for _ in range(repeat)]
    times = [t for t, _ in runs]
    return {"command": "kdaug " + " ".join(args) if args is not None else "python -c pass",
            "median_s": statistics.median(times), "min_s": min(times), "max_s": max(times),
            "imports_torch": any(flag for _, flag in runs), "runs_s": times}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per command [5]")
    parser.add_argument("--json", help="also write the JSON here")
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    rows = [measure(None, args.repeat, env)] + [measure(c, args.repeat, env) for c in COMMANDS]

    width = max(len(r["command"]) for r in rows)
    print(f"{'command':<{width}}  {'median s':>8}  {'min s':>6}  {'max s':>6}  imports torch")
    for r in rows:
        print(f"{r['command']:<{width}}  {r['median_s']:>8.3f}  {r['min_s']:>6.3f}  "
              f"{r['max_s']:>6.3f}  {'yes' if r['imports_torch'] else 'no'}")
    result = {"benchmark": "startup", "date": time.strftime("%Y-%m-%d"), "repeat": args.repeat,
              "python": platform.python_version(), "machine": platform.machine(),
              "cpu_count": os.cpu_count(), "rows": rows}
    text = json.dumps(result, indent=1)
    print(text)
    if args.json:
        Path(args.json).write_text(text)


if __name__ == "__main__":
    main()
