"""The sparse convolution core: descriptors, the scatter lanes, the output stage and the
core that runs them (see :mod:`.core`).
"""

from .core import COUNTERS, MAC_COUNTERS, SparseCore, beat_layout, slot_layout

__all__ = ["SparseCore", "beat_layout", "slot_layout", "COUNTERS", "MAC_COUNTERS"]
