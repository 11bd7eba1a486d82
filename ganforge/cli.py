"""The ``ganforge`` command line: the one argument parser, its argument types, the
registry of subcommands and the entry point. The subcommands themselves are in
:mod:`ganforge.commands`.

Adding a subcommand is one handler function plus its registration, in
:mod:`ganforge.commands`::

    def _frob_arguments(parser):
        parser.add_argument("--level", type=positive_int, default=1)

    @command("frob", "frob the accelerator", arguments=_frob_arguments, needs=("cocotb",))
    def _cmd_frob(args):
        from ganforge.frob import run_frob   # import heavy modules lazily
        return run_frob(args)

A handler returns an exit status (``None`` means 0). Every error is one line
``ganforge: error: <message>``:

* a wrong argument (the parser), a :class:`~ganforge.errors.UserError` raised by the
  handler (``ConfigError`` is one) and a missing optional dependency exit with status 2;
* a :class:`~ganforge.errors.RunError` (the run failed: a synthesis, an elaboration)
  exits with status 1.

``needs`` names the optional modules the command imports (keys of
:data:`ganforge.errors.EXTRAS`): when one is missing, the command stops before doing
anything with ``ganforge: error: frob needs cocotb: pip install 'ganforge[sim]'``. A
module of an extra that a handler fails to import later gets the same line.

The scripts in ``scripts/`` use the same parser class (:data:`ScriptParser` is its other
name) and the same argument types (:func:`positive_int`, :func:`nonneg_int`, ...).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from dataclasses import dataclass
from typing import Callable, Iterable, NoReturn, Sequence

from ganforge import __version__
from ganforge.errors import MissingExtra, RunError, UserError, extra_of

__all__ = ["ArgumentParser", "ScriptParser", "command", "build_parser", "main",
           "int_at_least", "positive_int", "nonneg_int", "number_in", "comma_list", "top_name",
           "PROG", "EXIT_FAILURE", "EXIT_USAGE"]

PROG = "ganforge"
EXIT_FAILURE = 1
EXIT_USAGE = 2

Handler = Callable[[argparse.Namespace], "int | None"]
Arguments = Callable[[argparse.ArgumentParser], None]


class ArgumentParser(argparse.ArgumentParser):
    """The argument parser of ganforge, its subcommands and its scripts: a wrong argument is
    exactly one line on stderr, ``PROG: error: MESSAGE``, and exit status 2. ``PROG`` is the
    program (``ganforge`` for every subcommand; the script's ``prog`` for a script)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog.split()[0]}: error: {message}\n")


#: The parser of a script in scripts/: the same class, under the name the scripts import.
ScriptParser = ArgumentParser


# --- argument types ----------------------------------------------------------
# argparse ``type=`` functions: a wrong value is argparse's one line
# "argument --NAME: <message>".

def int_at_least(minimum: int, what: str) -> Callable[[str], int]:
    """An argument type for integers ``>= minimum``; ``what`` names them in the message
    (``expected a positive integer, got 0``)."""
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
nonneg_int = int_at_least(0, "non-negative")
positive_int = int_at_least(1, "positive")


def number_in(lo: float, hi: float, *, lo_closed: bool = False,
              hi_closed: bool = False) -> Callable[[str], float]:
    """An argument type for numbers between ``lo`` and ``hi`` (open ends unless closed:
    ``number_in(0, 1, hi_closed=True)`` takes (0, 1])."""
    span = f"{'[' if lo_closed else '('}{lo:g}, {hi:g}{']' if hi_closed else ')'}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number in {span}, got {text!r}") from None
        above = value >= lo if lo_closed else value > lo
        below = value <= hi if hi_closed else value < hi
        if not (above and below):
            raise argparse.ArgumentTypeError(f"expected a number in {span}, got {text!r}")
        return value
    parse.__name__ = "number"
    return parse


def comma_list(choices: Iterable[str], what: str) -> Callable[[str], list[str]]:
    """An argument type for a comma-separated list of ``choices`` (``generic,ice40``),
    duplicates dropped; ``what`` names one item in the messages."""
    choices = tuple(choices)

    def parse(text: str) -> list[str]:
        names = [t.strip() for t in text.split(",") if t.strip()]
        if not names:
            raise argparse.ArgumentTypeError(f"no {what} given")
        for name in names:
            if name not in choices:
                raise argparse.ArgumentTypeError(
                    f"unknown {what} {name!r} (choose from: {', '.join(choices)})")
        return list(dict.fromkeys(names))
    parse.__name__ = f"{what}_list"
    return parse


def top_name(text: str) -> str:
    """An argument type for a block of :data:`ganforge.tops.TOPS` (``_`` is read as ``-``)."""
    from ganforge.tops import canonical
    try:
        return canonical(text)
    except UserError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def module_name(text: str) -> str:
    """An argument type for a Verilog module name: a letter or ``_``, then letters, digits
    and ``_`` (a plain Verilog identifier)."""
    import re
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a Verilog module name (a letter or _, then letters, digits, _)")
    return text


# --- subcommand registry -----------------------------------------------------

@dataclass(frozen=True)
class _Command:
    name: str
    help: str
    handler: Handler
    arguments: Arguments | None
    description: str | None
    needs: tuple[str, ...]


_COMMANDS: list[_Command] = []


def command(name: str, help: str, *, arguments: Arguments | None = None,
            description: str | None = None,
            needs: Sequence[str] = ()) -> Callable[[Handler], Handler]:
    """Register the decorated function as the handler of subcommand ``name``.

    ``help`` is the one line shown by ``ganforge --help`` (keep it short);
    ``description``, if given, is the longer text of ``ganforge NAME --help``;
    ``arguments`` adds the subcommand's options to its parser; ``needs`` lists the
    optional modules (keys of :data:`ganforge.errors.EXTRAS`) checked before it runs.
    """
    for module in needs:
        if extra_of(module) is None:
            raise ValueError(f"command {name}: {module!r} is not an optional dependency "
                             f"(ganforge.errors.EXTRAS)")

    def register(handler: Handler) -> Handler:
        _COMMANDS.append(_Command(name, help, handler, arguments, description, tuple(needs)))
        return handler
    return register


def _check_needs(cmd: _Command) -> None:
    for module in cmd.needs:
        if importlib.util.find_spec(module) is None:
            raise MissingExtra(cmd.name, module)


# --- entry point -------------------------------------------------------------

def build_parser() -> ArgumentParser:
    """The parser of ``ganforge`` and every subcommand of :mod:`ganforge.commands`."""
    import ganforge.commands  # noqa: F401  (registers the subcommands)
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
        sub.set_defaults(handler=cmd.handler, command_entry=cmd)
    return parser


def _fail(message: object, status: int) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return status


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit status."""
    args = build_parser().parse_args(argv)
    cmd = args.command_entry
    try:
        _check_needs(cmd)
        status = args.handler(args)
    except UserError as exc:
        return _fail(exc, EXIT_USAGE)
    except RunError as exc:
        return _fail(exc, EXIT_FAILURE)
    except ModuleNotFoundError as exc:
        if extra_of(exc.name) is None:
            raise                       # not an optional dependency: a bug, with its traceback
        return _fail(MissingExtra(cmd.name, exc.name), EXIT_USAGE)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    return 0 if status is None else int(status)


if __name__ == "__main__":
    sys.exit(main())
