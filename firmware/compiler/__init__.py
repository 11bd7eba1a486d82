"""The compiler: from golden-model ops (and, to come, whole networks) to core programs.

* :mod:`.ops` — :func:`compile_op`: one layer op (the table
  :data:`ganforge.golden.ops.TABLE`) into a :class:`Program` of a sparse core;
* :mod:`.passes` — the pass builders (FP/EP, weight gradient), tiling and lane balancing;
* :mod:`.program` — :class:`Pass`, :class:`Program` and the result's assembly;
* :mod:`.eors` — EORS speculation programs and the overlapped pipeline's tile;
* :mod:`.check` — :func:`check_program`: a program refused before it runs if the core
  would refuse it;
* :mod:`.encode`, :mod:`.bits` — a program as the integers of the core's ports.

The golden references of an op (what it must return and count) are the golden model's:
:func:`ganforge.golden.reference_result`, :func:`~ganforge.golden.work_counts`,
:func:`~ganforge.golden.audit_counts`.
"""

from .program import Pass, Program
from .passes import balanced_channel_order
from .ops import compile_op, lane_weights
from .eors import compile_eors, eors_prediction, pipeline_tile
from .check import check_program

__all__ = ["Pass", "Program", "compile_op", "lane_weights", "balanced_channel_order",
           "compile_eors", "eors_prediction", "pipeline_tile", "check_program"]
