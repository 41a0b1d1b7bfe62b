"""The commands that only answer questions (--help, list) start without importing torch or
DALI, which cost seconds; benchmarks/startup.py measures the time itself."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "nvidia.dali", "timm", "matplotlib")
PROBE = ("import sys\n"
         "sys.argv = ['kdaug'] + sys.argv[1:]\n"
         "from kdaug.cli.main import main\n"
         "try:\n    main()\n"
         "except SystemExit as exc:\n    assert not exc.code, exc.code\n"
         f"print('heavy:', [m for m in {HEAVY!r} if m in sys.modules])\n")


@pytest.mark.parametrize("args", [["--help"], ["list", "models"], ["list", "methods"],
                                  ["list", "datasets"], ["list", "policies"], ["train", "--help"],
                                  ["compare", "--help"], ["plot", "--help"]])
def test_answers_without_heavy_imports(args):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True,
                          env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("heavy: []"), proc.stdout[-500:]
