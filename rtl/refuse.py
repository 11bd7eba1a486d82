"""Refusing a configuration at construction, without warnings about what was built first.

A component that builds its parts in ``__init__`` and then finds a parameter it cannot
accept raises ``ValueError``; the parts already built would otherwise each warn, at
exit, that they were never elaborated. :func:`refuse` marks the component and every
part it holds (attributes, and lists of them, recursively) as deliberately unused, then
raises. :func:`unused` does the same marking for a component built only to be read (a
testbench reads the System's parameters and register map; the Verilog is simulated).
"""

from amaranth.hdl import Elaboratable

__all__ = ["refuse", "unused"]


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
