"""ganforge.bench: the benchmarks and studies behind ``make bench-*`` and docs/bench-core.md,
docs/eors.md and docs/rolin.md, as library code; ``scripts/`` only parses arguments and calls them.

* :mod:`~ganforge.bench.core`: cycles of the sparse core (``build/bench/core.json``);
* :mod:`~ganforge.bench.eors`: EORS on the RTL (``build/bench/eors.json``);
* :mod:`~ganforge.bench.rolin`: ROLIN's external-memory traffic (``build/bench/rolin.json``);
* :mod:`~ganforge.bench.eors_study`: EORS in the golden model, rates and training
  (``build/bench/eors_golden.json``);
* :mod:`~ganforge.bench.lane_balance`: the lane-balance cost model of EORS.

A bench's independent simulations (layers, sweep points, modes, seeds) go
through one :class:`~ganforge.executor.Executor` (local processes, or a Dask
cluster) and are merged here, in a fixed order, whatever order they finish in.
"""


class BenchFailure(RuntimeError):
    """A bench ran but its result is wrong (for example it does not match the golden model)."""


def log(msg):
    """Progress and notes of a bench: one line on stderr."""
    import sys
    print(msg, file=sys.stderr, flush=True)
