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


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


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
    parser.add_argument("--epochs", metavar="N", type=_positive_int, default=None,
                        help="training epochs (default: the demo's own)")
    parser.add_argument("--quick", action="store_true",
                        help="a short run, for smoke tests")


@command("demo", "train the reference DCGAN on digits in fixed point",
         arguments=_demo_arguments,
         description="Train the reference DCGAN on scikit-learn's digits in the accelerator's "
                     "fixed-point arithmetic; write samples.png, the quality score and the "
                     "per-layer FP/EP sparsity.")
def _cmd_demo(args: argparse.Namespace) -> int | None:
    try:
        from ganforge.demo import run_demo
    except ModuleNotFoundError as exc:
        if exc.name != "ganforge.demo":
            raise
        print(f"{PROG}: error: the demo is not available in this version "
              f"(module ganforge.demo is missing)", file=sys.stderr)
        return 1
    return run_demo(args)


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
