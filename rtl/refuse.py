"""Refusing a configuration at construction, without warnings about what was built first.

A component that builds its parts in ``__init__`` and then finds a parameter it cannot
accept raises ``ValueError``; the parts already built would otherwise each warn, at
exit, that they were never elaborated. :func:`refuse` marks the component and every
part it holds (attributes, and lists of them, recursively) as deliberately unused, then
raises. :func:`unused` does the same marking for a component built only to be read (a
testbench reads the System's parameters and register map; the Verilog is simulated).

:class:`Params` states a component's parameter rules in one place each: an integer in a
range (a power of two if asked), one of a set of choices; the first rule broken refuses
the component with a message that names the component, the parameter and the rule::

    p = Params(self, "SparseCore")
    p.pow2("lanes", lanes, 1, 64)
    p.choice("data_width", data_width, (8, 16))
    p.int("acc_width", acc_width, 2 * data_width, 64)
"""

from amaranth.hdl import Elaboratable

__all__ = ["refuse", "unused", "Params"]


def _silence(unit, seen):
    if id(unit) in seen:
        return
    seen.add(id(unit))
    unit._MustUse__silence = True
    for value in vars(unit).values():
        for sub in value if isinstance(value, (list, tuple)) else (value,):
            if isinstance(sub, Elaboratable):
                _silence(sub, seen)


def unused(unit):
    """Mark ``unit`` and its parts as built only to be read (their parameters, a register
    map), never elaborated: no warning at exit. Returns ``unit``."""
    _silence(unit, set())
    return unit


def refuse(unit, message):
    """Raise ``ValueError(message)`` for ``unit``, silencing it and the parts it built."""
    _silence(unit, set())
    raise ValueError(message)


class Params:
    """The parameter rules of ``unit`` (named ``owner`` in messages); each method returns
    the value it checked, and refuses (:func:`refuse`) the unit at the first broken rule:
    ``"OWNER: NAME must be ..., got VALUE"``."""

    def __init__(self, unit, owner):
        self.unit, self.owner = unit, owner

    def fail(self, message):
        """Refuse with ``message`` (prefixed with the owner)."""
        refuse(self.unit, f"{self.owner}: {message}")

    def _whole(self, name, value):
        if not isinstance(value, int) or isinstance(value, bool):
            self.fail(f"{name} must be an integer, got {value!r}")
        return value

    def int(self, name, value, lo, hi=None, why=""):
        """An integer in ``lo..hi`` (no upper bound if ``hi`` is None); ``why`` is said
        after the range."""
        self._whole(name, value)
        if value < lo or (hi is not None and value > hi):
            span = f"at least {lo}" if hi is None else f"in {lo}..{hi}"
            self.fail(f"{name} must be {span}{why}, got {value}")
        return value

    def pow2(self, name, value, lo, hi, why=""):
        """A power of two in ``lo..hi``."""
        self._whole(name, value)
        if not (lo <= value <= hi and value & (value - 1) == 0):
            self.fail(f"{name} must be a power of two in {lo}..{hi}{why}, got {value}")
        return value

    def choice(self, name, value, choices):
        """One of ``choices``."""
        if value not in choices or isinstance(value, bool):
            listed = ", ".join(map(str, choices[:-1])) + f" or {choices[-1]}"
            self.fail(f"{name} must be {listed}, got {value!r}")
        return value
