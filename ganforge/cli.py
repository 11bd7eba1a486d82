"""The ``ganforge`` command line.

Adding a subcommand is one handler function plus its registration::

    def _frob_arguments(parser):
        parser.add_argument("--level", type=int, default=1)

    @command("frob", "frob the accelerator", arguments=_frob_arguments)
    def _cmd_frob(args):
        from ganforge.frob import run_frob   # import heavy modules lazily
        return run_frob(args)

A handler returns an exit status (``None`` means 0). It reports a problem
caused by the user's input by raising :class:`~ganforge.errors.UserError`
(``ConfigError`` is one); the CLI prints it as one line,
``ganforge: error: <message>``, and exits with status 2.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import Callable, NoReturn, Sequence

from ganforge import __version__
from ganforge.errors import UserError

PROG = "ganforge"
EXIT_USAGE = 2

Handler = Callable[[argparse.Namespace], "int | None"]
Arguments = Callable[[argparse.ArgumentParser], None]


class ArgumentParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are exactly one line on stderr."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{PROG}: error: {message} (see '{self.prog} --help')\n")


@dataclass(frozen=True)
class _Command:
    name: str
    help: str
    handler: Handler
    arguments: Arguments | None
    description: str | None


_COMMANDS: list[_Command] = []


def command(name: str, help: str, *, arguments: Arguments | None = None,
            description: str | None = None) -> Callable[[Handler], Handler]:
    """Register the decorated function as the handler of subcommand ``name``.

    ``help`` is the one line shown by ``ganforge --help`` (keep it short);
    ``description``, if given, is the longer text of ``ganforge NAME --help``;
    ``arguments`` adds the subcommand's options to its parser.
    """
    def register(handler: Handler) -> Handler:
        _COMMANDS.append(_Command(name, help, handler, arguments, description))
        return handler
    return register


def _int_at_least(minimum: int, what: str) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a {what} integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected a {what} integer, got {value}")
        return value
    parse.__name__ = f"{what}_int"
    return parse


#: argparse ``type=`` for integers >= 0 and >= 1, with a one-line message otherwise.
nonneg_int = _int_at_least(0, "non-negative")
positive_int = _int_at_least(1, "positive")


class ScriptParser(argparse.ArgumentParser):
    """The parser of a script in scripts/: a wrong argument is one line, ``PROG: error: ...``,
    and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


# --- ganforge config ---------------------------------------------------------

def _config_arguments(parser: argparse.ArgumentParser) -> None:
    from ganforge.config import DEFAULT_PRESET
    parser.add_argument(
        "--config", metavar="NAME", default=DEFAULT_PRESET,
        help=f"configuration preset to describe (default: {DEFAULT_PRESET})")
    parser.add_argument("--list", action="store_true", help="list the presets and exit")


@command("config", "describe an accelerator configuration preset, or list them",
         arguments=_config_arguments)
def _cmd_config(args: argparse.Namespace) -> int:
    from ganforge.config import DEFAULT_PRESET, PRESETS, get_preset
    if args.list:
        width = max(map(len, PRESETS))
        for name, cfg in PRESETS.items():
            default = " (default)" if name == DEFAULT_PRESET else ""
            print(f"{name:<{width}}  {cfg.clusters} cluster(s) x {cfg.cores_per_cluster} core(s) "
                  f"x {cfg.lanes_per_core} lanes, {cfg.data_width}-bit{default}")
        return 0
    print(get_preset(args.config).describe(args.config))
    return 0


# --- ganforge demo -----------------------------------------------------------

def _demo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", metavar="DIR", default="build/demo",
                        help="output directory (default: build/demo)")
    parser.add_argument("--iterations", metavar="N", type=positive_int, default=None,
                        help="training iterations (default: 1500; 60 with --quick)")
    parser.add_argument("--seed", metavar="S", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--no-float", action="store_true",
                        help="skip the float-trained reference (no fixed/float score ratio)")
    parser.add_argument("--quick", action="store_true",
                        help="a short run, for smoke tests (the score is then meaningless)")


@command("demo", "train the reference DCGAN on digits in fixed point",
         arguments=_demo_arguments,
         description="Train the reference DCGAN on scikit-learn's digits in the accelerator's "
                     "fixed-point arithmetic (and in float, for reference); write samples.png, "
                     "the quality score and the per-layer FP/EP sparsity to --out.")
def _cmd_demo(args: argparse.Namespace) -> int | None:
    from ganforge.demo import run_demo
    return run_demo(args)


# --- ganforge workloads ------------------------------------------------------

def _workloads_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", metavar="DIR", default=None,
                        help="output directory (default: the package's golden/workloads/)")
    parser.add_argument("--dcgan-iterations", metavar="N", type=positive_int, default=1500)
    parser.add_argument("--i2i-iterations", metavar="N", type=positive_int, default=600)
    parser.add_argument("--show", metavar="NAME", default=None,
                        help="print the layers of a saved workload (dcgan, i2i or a path) and exit")


@command("workloads", "train the reference GANs and save their layers for the RTL",
         arguments=_workloads_arguments,
         description="Train the DCGAN and the image-to-image generator in fixed point and save "
                     "one captured training step per network (weights, FP inputs, EP errors, "
                     "ReLU masks) as dcgan.npz and i2i.npz; --show prints a saved one.")
def _cmd_workloads(args: argparse.Namespace) -> int | None:
    from ganforge.demo import run_workloads, show_workload
    if args.show:
        return show_workload(args.show)
    return run_workloads(args)


# --- ganforge verilog / sim-op -----------------------------------------------

def _verilog_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="NAME", default="small",
                        help="configuration preset (default: small)")
    parser.add_argument("-o", "--output", metavar="FILE", required=True, help="Verilog file to write")
    parser.add_argument("--name", default="ganforge_core", help="top module name")


@command("verilog", "write the Verilog of a preset's sparse core", arguments=_verilog_arguments)
def _cmd_verilog(args: argparse.Namespace) -> int | None:
    from ganforge.simop import run_verilog
    return run_verilog(args)


def _simop_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", metavar="IN.npz", help="the op, its tensors and parameters")
    parser.add_argument("-o", "--output", metavar="OUT.npz", required=True)
    parser.add_argument("--config", metavar="NAME", default="small",
                        help="configuration preset (default: small)")
    parser.add_argument("--sim", choices=("icarus", "verilator"), default="verilator")
    parser.add_argument("--dense", action="store_true",
                        help="every kind of skipping off: the baseline of every speedup")
    parser.add_argument("--vcd", metavar="FILE", default=None, help="write the waveform")
    parser.add_argument("--eors", action="store_true",
                        help="ReLU FP with EORS: the speculation unit, then the core with the "
                             "predicted zeros masked, and the core without EORS")
    parser.add_argument("--eors-margin", metavar="N", type=nonneg_int, default=0,
                        help="EORS margin in accumulator units (default: 0)")
    parser.add_argument("--eors-mantissa-bits", metavar="M", type=int, default=None,
                        help="override the configuration's eors_extra_mantissa_bits")
    parser.add_argument("--eors-acc-width", metavar="BITS", type=int, default=None,
                        help="override the configuration's eors_acc_width")
    parser.add_argument("--eors-pipelined", action="store_true",
                        help="with --eors: also run the unit and the core overlapped in one "
                             "simulation (EorsPipeline), one sample per tile")
    parser.add_argument("--eors-audit", action="store_true",
                        help="with --eors: also run the core audited (every tap computed) and "
                             "count false and missed zeros in its hardware counters")


@command("sim-op", "run one layer op on the simulated RTL core", arguments=_simop_arguments,
         description="Run one op (conv, conv_input_grad, conv_weight_grad, conv_transpose, "
                     "conv_transpose_input_grad, conv_transpose_weight_grad) from IN.npz on the "
                     "generated Verilog of the sparse core; write the result, the cycle count and "
                     "every counter to OUT.npz. See ganforge/simop.py for the keys.")
def _cmd_sim_op(args: argparse.Namespace) -> int | None:
    from ganforge.simop import run_sim_op
    return run_sim_op(args)


# --- entry point -------------------------------------------------------------

def build_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog=PROG,
        description="ganforge: generator of GAN training accelerators in Amaranth HDL.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    subparsers = parser.add_subparsers(
        dest="command", metavar="COMMAND", title="commands", required=True,
        parser_class=ArgumentParser)
    for cmd in _COMMANDS:
        sub = subparsers.add_parser(cmd.name, help=cmd.help,
                                    description=cmd.description or cmd.help)
        if cmd.arguments is not None:
            cmd.arguments(sub)
        sub.set_defaults(handler=cmd.handler)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit status."""
    args = build_parser().parse_args(argv)
    try:
        status = args.handler(args)
    except UserError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    return 0 if status is None else int(status)


if __name__ == "__main__":
    sys.exit(main())
