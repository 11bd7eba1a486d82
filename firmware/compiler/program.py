"""What the compiler produces: a core :class:`Program` of :class:`Pass` es, and how the
drained outputs become the op's result (:meth:`Program.assemble`).

A pass is one descriptor of the sparse core (:mod:`ganforge.rtl.core.descriptor`), the
load beats that follow it on the command stream, and the element beats of its input
stream. :mod:`.encode` turns a program into the integers of the core's ports.
"""

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Pass", "Program"]


@dataclass
class Pass:
    """One pass of the core.

    ``desc``: the descriptor's fields (a dict for ``cmd_layout``'s ``desc``). ``loads``:
    setup beats (ENABLE, BIAS, MASK), then operand words (WEIGHT): the loads after the
    DESC. ``beats``: the element beats, each ``{"slots": [(valid, ci, i, j, value)] per
    lane, "end": 0 or 1}``. ``places``: for a pass that drains, per lane, where its
    drained outputs go: ``(index into the result, shape)``, or ``None`` for an idle lane.
    """

    desc: dict
    loads: list
    beats: list
    places: list = None


@dataclass
class Program:
    """The passes computing ``op``: its result is ``result_shape`` on a core of ``lanes``
    lanes. ``meta``: free-form notes of the compiler."""

    op: str
    passes: list
    result_shape: tuple
    lanes: int
    meta: dict = field(default_factory=dict)

    def assemble(self, drained):
        """Build ``(result, relu_mask)`` from the drained outputs.

        ``drained``: for each pass that drains, a list of beats, each a list of
        ``(value, mask)`` pairs, one per lane.
        """
        result = np.zeros(self.result_shape, dtype=np.int64)
        rmask = np.zeros(self.result_shape, dtype=bool)
        it = iter(drained)
        for p in self.passes:
            if not p.desc["drain"]:
                continue
            beats = next(it)
            vals = np.array([[v for v, _ in b] for b in beats], dtype=np.int64)   # [words, lanes]
            masks = np.array([[mk for _, mk in b] for b in beats], dtype=bool)
            for lane, place in enumerate(p.places):
                if place is None:
                    continue
                index, shape = place
                result[index] = vals[:, lane].reshape(shape)
                rmask[index] = masks[:, lane].reshape(shape)
        return result, rmask
