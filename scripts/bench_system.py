#!/usr/bin/env python3
"""One DCGAN training step on the simulated accelerator at 1, 2 and 4 cores: ``make bench-system``.

The bench is :mod:`ganforge.bench.system` (what it measures and against which limit: its
docstring). Each core count is its own simulation; they run at once in local processes
(``--jobs``) or on a Dask cluster (``--cluster``). Writes build/bench/system.json and
system.png.
"""

import os
import sys

from ganforge.bench import run_script
from ganforge.bench.system import run_bench
from ganforge.cli import ScriptParser, positive_int
from ganforge.config import ConfigError, get_preset
from ganforge.executor import add_arguments

PROG = "bench-system"


def _cores(text):
    out = []
    for part in text.split(","):
        if not part.strip().isdigit() or not 1 <= int(part) <= 16:
            raise ValueError
        out.append(int(part))
    return out


def main(argv=None):
    p = ScriptParser(prog=PROG, description="One DCGAN training step on the simulated "
                                            "accelerator at several core counts, by phase, "
                                            "beside the ideal.")
    p.add_argument("--config", default="small", help="the preset whose core is used (default: small)")
    p.add_argument("--cores", default="1,2,4", help="core counts, comma separated (default: 1,2,4)")
    p.add_argument("--batch", type=positive_int, default=2, help="samples per step (default: 2)")
    p.add_argument("--sim", choices=["verilator", "icarus"], default="verilator")
    p.add_argument("--out", default=os.path.join("build", "bench", "system.json"))
    p.add_argument("--png", default=os.path.join("build", "bench", "system.png"))
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    add_arguments(p)
    args = p.parse_args(argv)
    try:
        config = get_preset(args.config)
        cores = _cores(args.cores)
    except ConfigError as exc:
        p.error(str(exc))
    except ValueError:
        p.error(f"--cores: comma-separated counts from 1 to 16, got {args.cores!r}")
    return run_script(p, args, PROG, lambda executor: run_bench(
        config, args.config, cores=cores, batch=args.batch, sim=args.sim, out=args.out,
        png=args.png, quiet=args.quiet, executor=executor)[1])


if __name__ == "__main__":
    sys.exit(main())
