"""EORS, exponent-only ReLU speculation: the arithmetic (:mod:`.arith`, a leaf), the
speculation unit (:mod:`.unit`) and the unit overlapped with a core (:mod:`.pipeline`).
"""

from .arith import MAX_MANTISSA_BITS, eors_product, eors_weight_word, shift_bits
from .pipeline import EorsPipeline
from .unit import EorsUnit

__all__ = ["EorsUnit", "EorsPipeline", "eors_product", "eors_weight_word", "shift_bits",
           "MAX_MANTISSA_BITS"]
