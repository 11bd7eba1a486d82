#!/usr/bin/env python3
"""Two groups of cores in one thread and in two: ``python scripts/bench_threads.py``.

Runs two cases on a two-core ``tiny`` system in the Amaranth simulator, each as one program
in one thread and as the same steps in two threads (``LayerPlan.parallel``), and prints the
cycles the command processor ran beside the limit: the busiest core's MACs (issued, after
both sparsities) over its lanes.

* ``independent``: a cut of G2's FP (transposed convolution) on core 0 and of D2's FP on
  core 1, nothing between them;
* ``producer-consumer`` (:func:`~ganforge.bench.system_cases.producer_consumer`):
  core 1 waits for an event from core 0 and reads core 0's result.

Every result is checked against the golden model; writes ``build/bench/threads.json``.
"""

import json
import os
import sys

from ganforge.cli import ScriptParser
from ganforge.errors import UserError
from ganforge.outputs import writable_file

PROG = "bench-threads"


def cases():
    """``{name: (layers, branches)}`` of the two cases."""
    from ganforge.golden import reference_result
    from ganforge.bench.system_cases import dcgan_case, producer_consumer
    layers = []
    for core, layer in enumerate(("G2", "D2")):
        op, tensors, params = dcgan_case(layer, "FP", samples=2, cut=(8, 4))
        layers.append(dict(op=op, tensors=tensors, params=params, group=[core],
                           want=reference_result(op, tensors, **params)[0]))
    return {"independent": (layers, [[0], [1]]), "producer-consumer": producer_consumer()}


def main(argv=None):
    p = ScriptParser(prog=PROG, description="Cycles of two groups of cores in one command-"
                                            "processor thread and in two, on the RTL.")
    p.add_argument("--stall", type=float, default=0.0,
                   help="probability the memory drops ready or valid each cycle (default 0)")
    p.add_argument("--out", default=os.path.join("build", "bench", "threads.json"))
    args = p.parse_args(argv)
    if not 0.0 <= args.stall < 1.0:
        p.error(f"--stall must be in [0, 1), got {args.stall}")
    try:
        writable_file(args.out)
    except UserError as exc:
        p.error(str(exc))
    import numpy as np
    from ganforge.bench.system_cases import tiny_system
    from ganforge.testbench.system_cases import run_layers
    system = tiny_system(2)
    lanes = system.cluster.core.lanes
    rows = []
    for name, (layers, branches) in cases().items():
        for parallel in (False, True):
            print(f"{PROG}: {name}, {'two threads' if parallel else 'one thread'} ...",
                  file=sys.stderr, flush=True)
            got = run_layers(system, layers, branches=branches, parallel=parallel,
                             stall=args.stall)
            exact = all(np.array_equal(o, L["want"]) for o, L in zip(got["out"], layers))
            macs = [got["counters"][f"core{c}.macs_issued"] for c in range(system.cores)]
            rows.append(dict(case=name, threads=2 if parallel else 1, cycles=got["busy"],
                             limit=max(macs) / lanes, macs=macs, instructions=got["retired"],
                             exact=exact))
    print(f"{'case':18} {'threads':>7} {'cycles':>7} {'limit':>7} {'x limit':>7} "
          f"{'instr.':>6}  exact")
    for r in rows:
        print(f"{r['case']:18} {r['threads']:7d} {r['cycles']:7d} {r['limit']:7.0f} "
              f"{r['cycles'] / r['limit']:7.2f} {r['instructions']:6d}  {r['exact']}")
    with open(args.out, "w") as f:
        json.dump({"system": "tiny, 2 cores", "lanes": lanes, "stall": args.stall,
                   "limit": "the busiest core's MACs issued / lanes", "runs": rows}, f, indent=1)
    print(f"wrote {args.out}")
    return 0 if all(r["exact"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
