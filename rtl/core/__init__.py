"""The sparse convolution core: descriptors, the scatter lanes, the output stage and the
core that runs them (see :mod:`.core`). The core's elaboration is split into named parts,
one file each: :mod:`.contexts`, :mod:`.intake`, :mod:`.loads`, :mod:`.dispatch`,
:mod:`.geometry`, :mod:`.retire` and :mod:`.counters`.
"""

from .core import COUNTERS, MAC_COUNTERS, SparseCore, beat_layout, slot_layout

__all__ = ["SparseCore", "beat_layout", "slot_layout", "COUNTERS", "MAC_COUNTERS"]
