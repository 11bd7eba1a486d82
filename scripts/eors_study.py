"""EORS in the golden model: prediction rates on real ReLU layers, and training with EORS on.

Writes ``<out>/eors_golden.json`` (every key in docs/eors.md). The study is
:mod:`ganforge.bench.eors_study`; its training runs go to local processes
(``--jobs``, default the cores) or to a Dask cluster (``--cluster``).
"""

import sys

from ganforge.bench.eors_study import PROG, StudyError, run
from ganforge.cli import ScriptParser, nonneg_int, positive_int
from ganforge.executor import ExecutorError, add_arguments, from_arguments


def parse_args(argv):
    ap = ScriptParser(prog=PROG, description=__doc__.split("\n")[0])
    ap.add_argument("--workload", default="dcgan", help="saved workload name or .npz path")
    ap.add_argument("--mantissa-bits", type=nonneg_int, nargs="+", default=[0, 1, 2, 3],
                    metavar="MB", help="mantissa bits to sweep (0..15)")
    ap.add_argument("--margins-lsb", type=nonneg_int, nargs="+",
                    default=[0, 32, 64, 128, 256, 512, 1024], metavar="M",
                    help="margins to sweep, in LSBs of each layer's requantised output")
    ap.add_argument("--bar", type=float, default=0.01, help="false-zero bar (fraction of outputs)")
    ap.add_argument("--tolerance", type=float, default=0.02,
                    help="speedup a cheaper setting may give up when choosing knobs (fraction)")
    ap.add_argument("--knobs", type=nonneg_int, nargs=2, metavar=("MB", "MARGIN_LSB"),
                    help="train with these knobs instead of the chosen ones")
    ap.add_argument("--iterations", type=positive_int, default=1500, help="training iterations")
    ap.add_argument("--batch", type=positive_int, default=64, help="training batch")
    ap.add_argument("--seeds", type=nonneg_int, nargs="+", default=[0], metavar="SEED",
                    help="training seeds (each trained with EORS off and on)")
    add_arguments(ap)
    ap.add_argument("--no-train", action="store_true", help="part (a) only")
    ap.add_argument("--out", default="build/bench", help="output folder")
    args = ap.parse_args(argv)
    if any(mb > 15 for mb in args.mantissa_bits) or (args.knobs and args.knobs[0] > 15):
        ap.error("mantissa bits must be in 0..15")
    if not 0.0 <= args.bar <= 1.0 or not 0.0 <= args.tolerance <= 1.0:
        ap.error("--bar and --tolerance must be fractions in [0, 1]")
    return args


def main(argv=None):
    args = parse_args(argv)
    try:
        with from_arguments(args, PROG) as executor:
            run(executor, workload=args.workload, mantissa_bits=args.mantissa_bits,
                margins_lsb=args.margins_lsb, bar=args.bar, tolerance=args.tolerance,
                knobs=args.knobs, iterations=args.iterations, batch=args.batch, seeds=args.seeds,
                train=not args.no_train, out=args.out)
    except (StudyError, ExecutorError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
