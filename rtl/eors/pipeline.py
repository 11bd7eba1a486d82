"""The EORS speculation unit beside the sparse core, as one top level.

:class:`EorsPipeline` puts an :class:`~.eors.EorsUnit` and a
:class:`~.core.SparseCore` side by side on one clock, each with its own
ports: every port of the core appears with the prefix ``c_`` (``c_cmd``,
``c_x_in``, ``c_o``, ``c_macs_issued``, ...) and every port of the unit with
``u_``. The two run at once: while the core computes tile ``t`` with the
prediction of tile ``t`` as its output mask, the unit speculates tile ``t + 1``.
The firmware (``testbench/tb_eors_pipeline.py`` plays it) moves each tile's
prediction from the unit's output stream into the core's ``MASK`` setup beats.

Nothing is shared between the two but the clock and reset, so the cycle count
of a layer run through this top level is the overlapped cost of EORS,
measured: the unit's pass of the first tile, then per tile the longer of the
core's pass and the unit's next one, and every stall between them.

See :class:`EorsPipeline` for its parameters, ports and latency.
"""

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In

from ..core import SparseCore
from ..refuse import Params
from .unit import EorsUnit

__all__ = ["EorsPipeline"]


class EorsPipeline(wiring.Component):
    """An :class:`~.unit.EorsUnit` and a :class:`~ganforge.rtl.core.SparseCore` side by
    side in one top level, on one clock.

    Parameters
    ----------
    core : dict
        Keyword arguments of the core (:func:`ganforge.config.core_from_config`).
    unit : dict
        Keyword arguments of the unit (:func:`ganforge.config.eors_unit_from_config`); the
        two lane counts may differ.

    Members
    -------
    c_<name>
        Every port ``<name>`` of the core, same shape and direction (``c_cmd``, ``c_x_in``,
        ``c_o``, ``c_error``, ``c_macs_issued``, ...).
    u_<name>
        Every port ``<name>`` of the unit.

    Attributes
    ----------
    core, unit
        The two halves (their parameters, e.g. ``core.lanes``).

    Latency and throughput
    ----------------------
    Each half's own (see :class:`~ganforge.rtl.core.SparseCore` and
    :class:`~.unit.EorsUnit`); the only coupling is through the firmware, which moves
    each tile's prediction from ``u_o`` into the core's ``MASK`` beats.

    Bad input
    ---------
    Each half's own, in its own ``error`` register (``c_error``, ``u_error``).
    Parameters either half refuses raise its ``ValueError`` at construction; ``core`` or
    ``unit`` not a dict is refused, naming it.
    """

    def __init__(self, *, core, unit):
        p = Params(self, "EorsPipeline")
        for name, value, cls in (("core", core, "SparseCore"), ("unit", unit, "EorsUnit")):
            if not isinstance(value, dict):
                p.fail(f"{name} must be a dict of {cls} keyword arguments, got {value!r}")
        self._core = SparseCore(**core)
        self._unit = EorsUnit(**unit)
        members = {}
        for prefix, sub in (("c_", self._core), ("u_", self._unit)):
            for name, member in sub.signature.members.items():
                members[prefix + name] = member
        super().__init__(members)

    @property
    def core(self):
        return self._core

    @property
    def unit(self):
        return self._unit

    def elaborate(self, platform):
        m = Module()
        m.submodules.core = self._core
        m.submodules.unit = self._unit
        for prefix, sub in (("c_", self._core), ("u_", self._unit)):
            for name, member in sub.signature.members.items():
                outer, inner = getattr(self, prefix + name), getattr(sub, name)
                if member.is_signature:
                    wiring.connect(m, wiring.flipped(outer), inner)
                elif member.flow == In:
                    m.d.comb += inner.eq(outer)
                else:
                    m.d.comb += outer.eq(inner)
        return m
