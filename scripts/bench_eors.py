"""Benchmark EORS on the RTL: ``make bench-eors``; writes ``build/bench/eors.json``.

The bench is :mod:`ganforge.bench.eors` (what it measures: its docstring; the
keys of eors.json: docs/eors.md). The layers run at once in local processes
(``--jobs``, default the cores) or on a Dask cluster (``--cluster
tcp://HOST:PORT`` or ``$GANFORGE_CLUSTER``), and are merged into one report.
"""

import dataclasses
import sys

from ganforge.bench import BenchFailure
from ganforge.bench.eors import PROG, Settings, chosen_knobs, run, select_layers
from ganforge.cli import ScriptParser, positive_int
from ganforge.config import ConfigError, get_preset
from ganforge.executor import ExecutorError, add_arguments, from_arguments
from ganforge.testbench import BenchError


def parse_args(argv):
    ap = ScriptParser(prog=PROG, description=__doc__.split("\n")[0])
    ap.add_argument("--config", default="small", help="configuration preset of the core and unit")
    ap.add_argument("--sim", default="verilator", choices=("verilator", "icarus"))
    ap.add_argument("--samples", type=int, default=4,
                    help="samples of each layer simulated (0: the whole captured batch)")
    ap.add_argument("--layers", default=None,
                    help="comma-separated ReLU layers to run (default: all: G1,G2,D1,D2)")
    ap.add_argument("--pipeline-tile", type=int, default=None,
                    help="samples per tile of the pipelined run (default: the firmware's "
                         "choice per layer, ganforge.firmware.compiler.pipeline_tile)")
    ap.add_argument("--lean", action="store_true",
                    help="leave out the natural-order and audited runs of the core")
    ap.add_argument("--knobs", nargs=2, type=int, metavar=("MB", "MARGIN_LSB"), default=None,
                    help="EORS knobs (default: the golden study's choice, else 2 0)")
    ap.add_argument("--study", default="build/bench/eors_golden.json",
                    help="the golden study's JSON (for the chosen knobs)")
    ap.add_argument("--eors-acc-width", type=positive_int, default=36,
                    help="speculation accumulator bits (the real layers' estimates need 33)")
    ap.add_argument("--eors-lanes", type=int, default=None,
                    help="lanes of the speculation unit (default: the core's)")
    ap.add_argument("--area-config", default="tiny",
                    help="preset for the Yosys area of the unit (default: tiny)")
    ap.add_argument("--area-targets", default="ice40,ecp5")
    ap.add_argument("--no-area", action="store_true")
    ap.add_argument("--out", default="build/bench")
    ap.add_argument("--sim-build", default="build/sim",
                    help="simulator build folder (separate folders let two benches run at once)")
    add_arguments(ap)
    args = ap.parse_args(argv)
    if args.samples < 0:
        ap.error(f"--samples must be >= 0 (0: the whole batch), got {args.samples}")
    if args.pipeline_tile is not None and args.pipeline_tile < 1:
        ap.error(f"--pipeline-tile must be >= 1, got {args.pipeline_tile}")
    if args.knobs is not None and (not 0 <= args.knobs[0] <= 4 or args.knobs[1] < 0):
        ap.error(f"--knobs: mantissa bits must be in 0..4 and the margin >= 0, got {args.knobs}")
    if args.eors_lanes is not None and (args.eors_lanes < 1 or args.eors_lanes & (args.eors_lanes - 1)):
        ap.error(f"--eors-lanes must be a power of two, got {args.eors_lanes}")
    return args, ap


def main(argv=None):
    args, ap = parse_args(argv)
    if args.knobs is not None:
        mb, margin_lsb, source = *args.knobs, "--knobs"
    else:
        mb, margin_lsb, source = chosen_knobs(args.study) or (2, 0, "default")
    try:
        config = dataclasses.replace(get_preset(args.config), eors_extra_mantissa_bits=mb,
                                     eors_acc_width=args.eors_acc_width)
    except (ConfigError, KeyError, ValueError) as exc:
        ap.error(str(exc).strip("'\""))
    settings = Settings(mb, margin_lsb, sim=args.sim, samples=args.samples,
                        eors_lanes=args.eors_lanes, pipeline_tile=args.pipeline_tile,
                        lean=args.lean, build_root=args.sim_build)
    try:
        layers = select_layers(None if args.layers is None else
                               [n.strip() for n in args.layers.split(",")])
    except ValueError as exc:
        ap.error(str(exc))
    try:
        with from_arguments(args, PROG) as executor:
            res = run(config, args.config, settings, executor, layers=layers, knobs_source=source,
                      area_config=None if args.no_area else args.area_config,
                      area_targets=args.area_targets, out=args.out)
    except ExecutorError as exc:
        ap.error(str(exc))
    except (BenchError, BenchFailure) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    return 0 if res["all_match"] else 1


if __name__ == "__main__":
    sys.exit(main())
