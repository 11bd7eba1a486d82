"""Benchmark the sparse core on Verilator: ``make bench-core``; writes ``build/bench/core.json``
and ``core.png``.

The bench is :mod:`ganforge.bench.core` (sections and keys: docs/bench-core.md).
Its simulations run at once in local processes (``--jobs``, default the
cores) or on a Dask cluster (``--cluster tcp://HOST:PORT`` or
``$GANFORGE_CLUSTER``).
"""

import sys

from ganforge.bench import BenchFailure, core
from ganforge.cli import ScriptParser, positive_int
from ganforge.config import ConfigError
from ganforge.executor import ExecutorError, add_arguments, from_arguments
from ganforge.testbench import BenchError

PROG = "bench_core"


def main(argv=None):
    ap = ScriptParser(prog=PROG, description=__doc__.split("\n")[0])
    ap.add_argument("--config", default="small", help="configuration preset (default: small)")
    ap.add_argument("--sim", default="verilator", choices=("verilator", "icarus"))
    ap.add_argument("--samples", type=positive_int, default=16, help="samples of each reference layer")
    ap.add_argument("--out", default="build/bench", help="output folder")
    ap.add_argument("--quick", action="store_true", help="sweep {0, 90} %% only and skip nothing else")
    add_arguments(ap)
    args = ap.parse_args(argv)
    try:
        with from_arguments(args, PROG) as executor:
            res = core.run(args.config, executor, sim=args.sim, samples=args.samples,
                           quick=args.quick, out=args.out)
    except (ConfigError, KeyError, ExecutorError) as exc:
        ap.error(str(exc).strip("'\""))
    except (BenchError, BenchFailure) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    core.print_tables(res, res["lanes"])
    print(f"\nwrote {args.out}/core.json and core.png in {res['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
