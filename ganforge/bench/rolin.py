"""External-memory traffic of instance norm with ROLIN off and on: ``make bench-rolin``
(``scripts/bench_rolin.py``).

Usage::

    python scripts/bench_rolin.py [--samples N] [--sim icarus|verilator]
                                  [--out build/bench/rolin.json] [--quiet]
                                  [--jobs N] [--cluster ADDRESS]

The reference image-to-image generator (``ganforge workloads --show i2i``:
conv → IN → ReLU blocks) runs its FP and its EP through the generated
RolinEngine Verilog (DMA + statistics/parameter/normalise units) with
cocotbext-axi's AxiRam as external memory; the convolutions are computed by
the golden model in the testbench. Every byte count is read from the RTL
DMA's counters after the run, and every load-path output is checked bit for
bit against the golden model on the way. ROLIN off runs IN as separate passes
(FP: store x, read x for statistics, read x and store y, read y; EP: store dy,
read dy and x for statistics, read dy and x and store dx, read dx).

Beside each measurement is the *ideal*: the bytes if every map crossed
external memory once (weights, the network's input and output once; each IN
map written once and read once; in EP, the IN input ``x`` read once more, as
the backward needs it). The *theoretical maximum* reduction is
``1 − ideal / off``. Kim et al. report 38.7 % (FP) and 32.2 % (EP).

ROLIN off and ROLIN on are two independent simulations of the same flow (the
DMA's counters are cleared before each phase): they go through one
:class:`~ganforge.executor.Executor` and their counters are merged.

Keys of the JSON file: see docs/rolin.md.
"""

import json
import os
import time

from ganforge.bench import Follow, log

__all__ = ["BARS", "ideal_bytes", "run"]

PROG = "bench-rolin"
#: Kim et al.'s reported reductions (per cent), FP and EP.
BARS = {"fp": 38.7, "ep": 32.2}
MODES = ("off", "on")


def simulate_mode(item):
    """One simulation of the flow with ROLIN ``mode`` (an executor's item: ``(mode, sim,
    samples, build_root, quiet)``); returns the DMA's counters ``{fp_MODE, ep_MODE}``."""
    import tempfile
    from ganforge.testbench import run_rolin_flow
    mode, sim, samples, build_root, quiet = item
    fd, log_path = tempfile.mkstemp(prefix=f"rolin-{mode}-", suffix=".log")
    os.close(fd)
    t0, prefix = time.monotonic(), f"{PROG}: ROLIN {mode}"

    def show(message):
        log(f"{prefix} [{time.monotonic() - t0:5.0f} s] {message}")
    with Follow(log_path, None if quiet else show):
        counts = run_rolin_flow(sim, build_root, samples=samples, modes=(mode,), throttle=0.0,
                                verbose=True, log_file=log_path)
    os.unlink(log_path)
    return counts


def ideal_bytes(layers, samples, width_bytes=2):
    """The traffic if every map crossed memory once, per phase (a formula: the limit)."""
    from ganforge.testbench.rolin_ref import IN_BLOCKS
    weights = sum(layers[k]["w"].size for k in ("T1", "T2", "T3", "T4", "T5")) * width_bytes
    maps = sum(layers[name]["x"][0].size for _, name, _ in IN_BLOCKS) * width_bytes * samples
    image = layers["T1"]["x"][0].size * width_bytes * samples
    out = layers["T5"]["mask"][0].size * width_bytes * samples
    return {
        "fp": {"rd_bytes": weights + image + maps, "wr_bytes": maps + out},
        # EP: the loss gradient in, the image gradient out, each IN error map written and
        # read once, and each IN input x read once.
        "ep": {"rd_bytes": weights + out + 2 * maps, "wr_bytes": maps + image},
    }


def run(executor, *, samples=16, sim="verilator", out="build/bench/rolin.json", quiet=False,
        build_root="build/sim"):
    """The bench: ROLIN off and on through ``executor``; write ``out`` (JSON, keys in
    docs/rolin.md) and return ``(report, table)``: the result and its printed lines."""
    from ganforge.golden.workloads import load_workload
    layers, _ = load_workload("i2i")
    start = time.monotonic()
    counts = {}
    for part in executor.map(simulate_mode, [(m, sim, samples, build_root, quiet) for m in MODES],
                             names=[f"ROLIN {m}" for m in MODES]):
        counts.update(part)
    seconds = time.monotonic() - start
    if not quiet:
        log(f"{PROG}: simulated in {seconds:.0f} s")
    ideal = ideal_bytes(layers, samples)
    report = {"schema": "ganforge-bench-rolin/1", "workload": "i2i", "samples": samples,
              "sim": sim, "seconds": round(seconds, 1), "axi_data_width": 64,
              "bit_exact": True, "phases": {}}
    lines = [f"ROLIN external-memory traffic, i2i generator, {samples} sample(s) "
             f"(RTL DMA counters; ideal = every map crosses memory once)",
             f"{'phase':5} {'ROLIN off':>12} {'ROLIN on':>12} {'ideal':>12} {'reduction':>10} "
             f"{'max':>8} {'bar':>7}"]
    for phase in ("fp", "ep"):
        off, on = counts[f"{phase}_off"], counts[f"{phase}_on"]
        t_off = off["rd_bytes"] + off["wr_bytes"]
        t_on = on["rd_bytes"] + on["wr_bytes"]
        t_ideal = ideal[phase]["rd_bytes"] + ideal[phase]["wr_bytes"]
        red = 100.0 * (1 - t_on / t_off)
        mx = 100.0 * (1 - t_ideal / t_off)
        report["phases"][phase] = {
            "off": off | {"total": t_off}, "on": on | {"total": t_on},
            "ideal": ideal[phase] | {"total": t_ideal},
            "reduction_pct": round(red, 2), "max_reduction_pct": round(mx, 2),
            "bar_pct": BARS[phase], "meets_bar": red >= BARS[phase],
        }
        lines.append(f"{phase.upper():5} {t_off:12,d} {t_on:12,d} {t_ideal:12,d} {red:9.1f}% "
                     f"{mx:7.1f}% {BARS[phase]:6.1f}%")
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    return report, lines
