"""The thin scripts of ``scripts/`` that have no test of their own refuse bad arguments in
one line (exit status 2, no traceback), before any tool or simulator runs."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("argv,word", [
    (["scripts/timing.py", "--freq", "-3"], "--freq"),
    (["scripts/timing.py", "--component", "nonsense"], "unknown top"),
    (["scripts/timing.py", "--show", "no-such-summary.json"], "cannot read"),
    (["scripts/bench_threads.py", "--stall", "2"], "--stall"),
    (["scripts/bench_threads.py", "--nonsense"], "unrecognized"),
    (["scripts/retrain_demo.py", "--budget", "1.5"], "--budget"),
    (["scripts/retrain_demo.py", "--lr", "x"], "--lr"),
    (["scripts/retrain_demo.py", "--out", "/proc/no/such"], "cannot write"),
    (["scripts/retrain_demo.py", "--show", "no-such.json"], "cannot read"),
    (["scripts/retrain_demo.py", "--config", "huge"], "unknown preset"),
], ids=["timing-freq", "timing-component", "timing-show", "threads-stall", "threads-arg",
        "retrain-budget", "retrain-lr", "retrain-out", "retrain-show", "retrain-config"])
def test_a_bad_argument_is_one_line(argv, word):
    r = subprocess.run([sys.executable, *argv], cwd=ROOT, capture_output=True, text=True,
                       timeout=120)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip() and not ln.startswith("usage:")
             and not ln.startswith(" ")]
    assert r.returncode == 2, r.stderr
    assert len(lines) == 1 and word in lines[0], r.stderr
    assert "Traceback" not in r.stderr
