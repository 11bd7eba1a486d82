"""How much of EORS's ideal speedup the core's lane balance leaves: a cost model, not a run.

Prints the model of :mod:`ganforge.bench.lane_balance` per ReLU layer of the
saved ``dcgan`` workload: natural, balanced, split and ideal cycles of MACs.
"""

import sys

from ganforge.bench.lane_balance import model
from ganforge.cli import ScriptParser, nonneg_int

PROG = "eors_lane_balance"


def main(argv=None):
    ap = ScriptParser(prog=PROG, description=__doc__.split("\n")[0])
    ap.add_argument("--knobs", nargs=2, type=nonneg_int, default=(2, 0), metavar=("MB", "MARGIN_LSB"),
                    help="EORS knobs (default: 2 0)")
    ap.add_argument("--lanes", type=int, default=16, help="core lanes (default: 16, small)")
    args = ap.parse_args(argv)
    if args.lanes < 1:
        ap.error(f"--lanes must be >= 1, got {args.lanes}")
    print(f"lane-balance model, knobs {tuple(args.knobs)}, {args.lanes} lanes, whole captured "
          f"batch (cycles of MACs only)")
    print(f"{'layer':6s} {'natural':>9s} {'balanced':>9s} {'split':>9s} {'ideal':>9s} "
          f"{'bal/ideal':>9s}")
    for r in model(*args.knobs, lanes=args.lanes):
        print(f"{r['layer']:6s} {r['natural']:9d} {r['balanced']:9d} {r['split']:9d} "
              f"{r['ideal']:9.0f} {r['balanced'] / r['ideal']:9.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
