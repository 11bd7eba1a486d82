#!/usr/bin/env python3
"""External-memory traffic of instance norm with ROLIN off and on: ``make bench-rolin``.

Usage::

    python scripts/bench_rolin.py [--samples N] [--sim icarus|verilator]
                                  [--out build/bench/rolin.json] [--quiet]

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

Keys of the JSON file: see docs/rolin.md.
"""

import argparse
import glob
import json
import os
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

PROG = "bench-rolin"
BARS = {"fp": 38.7, "ep": 32.2}


def log(msg, quiet=False):
    if not quiet:
        print(f"{PROG}: {msg}", file=sys.stderr, flush=True)


class ArgumentParser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, f"{PROG}: error: {message} (see '{self.prog} --help')\n")


def _samples(text):
    try:
        v = int(text)
    except ValueError:
        v = 0
    if not 1 <= v <= 16:
        raise argparse.ArgumentTypeError(f"must be an integer from 1 to 16 (the saved batch), got {text!r}")
    return v


def follow_progress(worker, start, quiet):
    """While the simulation runs, copy its ``progress:`` lines from the newest sim.log to stderr."""
    seen, log_path = 0, None
    wall = time.time() - (time.monotonic() - start)
    while worker.is_alive():
        worker.join(2.0)
        if log_path is None:
            logs = glob.glob(os.path.join("build", "sim", "rolin_engine-*", "sim.log"))
            logs = [p for p in logs if os.path.getmtime(p) >= wall - 1]
            log_path = max(logs, key=os.path.getmtime) if logs else None
            continue
        try:
            with open(log_path, errors="replace") as f:
                lines = f.read().splitlines()
        except OSError:
            continue
        for line in lines[seen:]:
            if "progress:" in line:
                log(f"[{time.monotonic() - start:5.0f} s] {line.split('progress:', 1)[1].strip()}", quiet)
        seen = len(lines)


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


def main(argv=None):
    p = ArgumentParser(prog=PROG, description="ROLIN external-memory traffic of the i2i generator, "
                                              "measured by the RTL DMA's counters.")
    p.add_argument("--samples", type=_samples, default=16,
                   help="samples of the saved batch to run (1..16, default 16)")
    p.add_argument("--sim", choices=["icarus", "verilator"], default="verilator")
    p.add_argument("--out", default=os.path.join("build", "bench", "rolin.json"))
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    args = p.parse_args(argv)

    from ganforge.golden.workloads import load_workload
    from ganforge.testbench.rolin_flow import run_flow

    layers, _ = load_workload("i2i")
    log(f"running FP and EP of the i2i generator, ROLIN on and off, {args.samples} sample(s), "
        f"on {args.sim}", args.quiet)
    start = time.monotonic()
    result = {}
    with tempfile.TemporaryDirectory() as tmp:
        counts_path = os.path.join(tmp, "counts.json")

        def simulate():
            try:
                result["run"] = run_flow(args.sim, os.path.join("build", "sim"), samples=args.samples,
                                         throttle=0.0, out=counts_path, verbose=True)
            except SystemExit:
                result["run"] = (1, 1, None)
            except Exception as exc:           # a build failure: reported in one line below
                result["error"] = f"{type(exc).__name__}: {exc}".splitlines()[0]

        worker = threading.Thread(target=simulate, daemon=True)
        worker.start()
        follow_progress(worker, start, args.quiet)
    seconds = time.monotonic() - start
    if "error" in result:
        print(f"{PROG}: error: {result['error']}", file=sys.stderr)
        return 1
    total, failed, counts = result["run"]
    if failed or counts is None:
        print(f"{PROG}: error: the simulation failed (see build/sim/rolin_engine-*/sim.log)",
              file=sys.stderr)
        return 1
    log(f"simulated in {seconds:.0f} s", args.quiet)

    ideal = ideal_bytes(layers, args.samples)
    report = {"schema": "ganforge-bench-rolin/1", "workload": "i2i", "samples": args.samples,
              "sim": args.sim, "seconds": round(seconds, 1), "axi_data_width": 64,
              "bit_exact": True, "phases": {}}
    lines = [f"ROLIN external-memory traffic, i2i generator, {args.samples} sample(s) "
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
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    print("\n".join(lines))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
