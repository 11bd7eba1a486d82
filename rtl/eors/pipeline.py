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

Parameters: ``core`` and ``unit``, the keyword arguments of the two
(:func:`ganforge.config.core_from_config` and
:func:`ganforge.config.eors_unit_from_config`); their lane counts may differ.

Latency: each half's own (see :mod:`.core` and :mod:`.eors`).
"""

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In

from ..core import SparseCore
from .unit import EorsUnit

__all__ = ["EorsPipeline"]


class EorsPipeline(wiring.Component):
    """An EorsUnit (ports ``u_*``) and a SparseCore (ports ``c_*``) in one top level."""

    def __init__(self, *, core, unit):
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
