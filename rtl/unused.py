"""Values a block receives and deliberately does not read, declared as such.

A component's port may carry more than one particular block needs: a stream payload's
field that only another consumer wants (the DMA's ``last``, the core's output masks).
:func:`declare_unused` states that in the RTL, where a reader sees it, with Verilator's
own convention: a signal whose name holds ``unused`` is never reported as unused, and
what it reads counts as read (``verilator --unused-regexp``, default ``*unused*``).
``make lint`` keeps these signals (``ganforge/lint.py`` does not strip them as aliases),
so a value becomes "unused on purpose" only here, one call per reason.
"""

from amaranth.hdl import Cat, Signal, Value

__all__ = ["declare_unused"]


def declare_unused(m, name, *values):
    """Drive ``unused_<name>`` from ``values`` in module ``m``: they are not needed here.
    The caller's comment says why. Returns the signal (it drives nothing)."""
    values = [Value.cast(v) for v in values]
    sig = Signal(sum(len(v) for v in values), name=f"unused_{name}")
    m.d.comb += sig.eq(Cat(*values))
    return sig
