#!/usr/bin/env python3
"""External-memory traffic of instance norm with ROLIN off and on: ``make bench-rolin``.

The bench is :mod:`ganforge.bench.rolin` (what it measures: its docstring;
the keys of the JSON file: docs/rolin.md). ROLIN off and on run at once in
local processes (``--jobs``) or on a Dask cluster (``--cluster``).
"""

import argparse
import os
import sys

from ganforge.bench import run_script
from ganforge.bench.rolin import PROG, run
from ganforge.cli import ScriptParser
from ganforge.executor import add_arguments


def _samples(text):
    try:
        v = int(text)
    except ValueError:
        v = 0
    if not 1 <= v <= 16:
        raise argparse.ArgumentTypeError(f"must be an integer from 1 to 16 (the saved batch), got {text!r}")
    return v


def main(argv=None):
    p = ScriptParser(prog=PROG, description="ROLIN external-memory traffic of the i2i generator, "
                                            "measured by the RTL DMA's counters.")
    p.add_argument("--samples", type=_samples, default=16,
                   help="samples of the saved batch to run (1..16, default 16)")
    p.add_argument("--sim", choices=["icarus", "verilator"], default="verilator")
    p.add_argument("--out", default=os.path.join("build", "bench", "rolin.json"))
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    add_arguments(p)
    args = p.parse_args(argv)
    if not args.quiet:
        print(f"{PROG}: running FP and EP of the i2i generator, ROLIN on and off, {args.samples} "
              f"sample(s), on {args.sim}", file=sys.stderr, flush=True)
    return run_script(p, args, PROG, lambda executor: run(
        executor, samples=args.samples, sim=args.sim, out=args.out, quiet=args.quiet)[1])


if __name__ == "__main__":
    sys.exit(main())
