#!/usr/bin/env python3
"""DCGAN training steps with every layer op on the simulated accelerator, checked bit for
bit against the golden training.

Runs ``testbench/tb_train.py`` (:func:`ganforge.testbench.run_train_steps`): the golden
loop :func:`ganforge.golden.train_dcgan` with the whole accelerator (``System`` of the
preset, as Verilog) as the device of every FP, EP and WG; at the end every parameter of
G and D must equal the golden training's. Prints each program (layer, phase, cycles from
GO to the interrupt, MACs issued, and the ideal: MACs / all lanes) and what the host
moved, and writes them as JSON.

    python scripts/train_on_rtl.py [--steps N] [--batch B] [--config NAME]
                                   [--sim verilator|icarus] [--mode multicast|unicast]
                                   [--out build/bench/train_rtl.json]
"""

import json
import os
import sys

from ganforge.cli import ScriptParser, positive_int
from ganforge.config import ConfigError, get_preset, system_from_config
from ganforge.testbench import BenchError, run_train_steps

PROG = "train_on_rtl"


def main(argv=None):
    p = ScriptParser(prog=PROG, description="DCGAN training steps on the simulated accelerator, "
                                            "checked against the golden training.")
    p.add_argument("--steps", type=positive_int, default=2)
    p.add_argument("--batch", type=positive_int, default=1, help="samples per step (D sees twice)")
    p.add_argument("--config", default="small", help="configuration preset (default: small)")
    p.add_argument("--sim", choices=["verilator", "icarus"], default="verilator")
    p.add_argument("--mode", choices=["multicast", "unicast"], default="multicast")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=os.path.join("build", "bench", "train_rtl.json"))
    args = p.parse_args(argv)
    try:
        config = get_preset(args.config)
    except ConfigError as exc:
        p.error(str(exc))
    system = system_from_config(config)
    lanes = system["cores"] * config.lanes_per_core
    print(f"{PROG}: {args.steps} step(s) of batch {args.batch} on {args.config} "
          f"({system['cores']} cores, {lanes} lanes), {args.sim}; progress in the simulator's "
          f"log", file=sys.stderr)
    try:
        res = run_train_steps(system, steps=args.steps, batch=args.batch, seed=args.seed,
                              mode=args.mode, sim=args.sim, quiet=False)
    except BenchError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    print(f"{'#':>3} {'layer':6} {'phase':5} {'cycles':>9} {'MACs':>10} {'ideal':>8}")
    total = ideal = 0
    for k, e in enumerate(res["programs"], 1):
        macs = sum(v for name, v in e["counters"].items() if name.endswith(".macs_issued"))
        total, ideal = total + e["cycles"], ideal + macs / lanes
        print(f"{k:3d} {e['layer']:6} {e['phase']:5} {e['cycles']:9d} {macs:10d} {macs / lanes:8.0f}")
    print(f"{len(res['programs'])} programs: {total} cycles, ideal {ideal:.0f} (MACs / {lanes} lanes); "
          f"parameters after {res['steps']} step(s) equal the golden training's: {res['equal']}")
    print(f"host traffic: {res['traffic']}")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(res, f, indent=1)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
