"""Every RTL component refuses, at construction, a parameter it cannot be built with: a
``ValueError`` whose message starts with the component's name and the parameter, also when
the component is built directly (no :class:`~ganforge.config.AcceleratorConfig`). And every
block of :data:`ganforge.tops.TOPS` builds for every preset (construction only)."""

import pytest

from ganforge import tops
from ganforge.config import PRESETS, get_preset
from ganforge.rtl.bus.axi_arbiter import AxiArbiter
from ganforge.rtl.bus.axil_xbar import AxiLiteXbar
from ganforge.rtl.bus.csr import AxiLiteCsr
from ganforge.rtl.bus.ld_adapter import LoadToElements
from ganforge.rtl.bus.st_adapter import OutputsToMaps
from ganforge.rtl.cluster.cluster import Cluster
from ganforge.rtl.cluster.fanout import Fanout
from ganforge.rtl.cluster.store_arbiter import StoreArbiter
from ganforge.rtl.control.processor import CommandProcessor
from ganforge.rtl.core.lane import ScatterLane
from ganforge.rtl.core.output_stage import OutputStage
from ganforge.rtl.eors.pipeline import EorsPipeline
from ganforge.rtl.eors.unit import EorsUnit
from ganforge.rtl.refuse import unused
from ganforge.rtl.rolin.engine import REGMAP as ENGINE_REGMAP, RolinEngine
from ganforge.rtl.rolin.norm import RolinNorm
from ganforge.rtl.rolin.params import RolinParams
from ganforge.rtl.rolin.stats import RolinStats
from ganforge.rtl.top.accelerator import Accelerator
from ganforge.rtl.top.system import System

#: Keyword arguments a component needs besides the one under test.
BASE = {
    AxiLiteCsr: dict(regmap=ENGINE_REGMAP),
    EorsPipeline: dict(core=dict(lanes=4, weight_depth=128, out_depth=64),
                       unit=dict(lanes=4, weight_depth=128, out_depth=64)),
    Fanout: dict(outputs=2, shape=8),
    StoreArbiter: dict(cores=2),
    AxiLiteXbar: dict(managers=2, addr_width=14, banks=[(0x0000, 8), (0x1000, 12)]),
    System: dict(cores=1, core=dict(lanes=4, weight_depth=128, out_depth=64),
                 engine=dict(axi_data_width=32)),
    Accelerator: dict(core=dict(lanes=4, weight_depth=128, out_depth=64),
                      engine=dict(axi_data_width=32), max_positions=64),
    Cluster: dict(core=dict(lanes=4, weight_depth=128, out_depth=64), max_positions=64),
}

# (component, keyword arguments, the message after "Component: ")
CASES = [
    # ScatterLane
    (ScatterLane, dict(data_width=3), "data_width must be 8 or 16"),
    (ScatterLane, dict(weight_width=17), r"weight_width must be in 2\.\.16"),
    (ScatterLane, dict(weight_width=1), "weight_width"),
    (ScatterLane, dict(data_width=10**6), "data_width"),
    (ScatterLane, dict(acc_width=0), r"acc_width must be in 32\.\.64"),
    (ScatterLane, dict(acc_width=-1), "acc_width"),
    (ScatterLane, dict(acc_width=10**6), "acc_width"),
    (ScatterLane, dict(data_width=8, acc_width=15), r"acc_width must be in 16\.\.64"),
    (ScatterLane, dict(max_kernel=0), r"max_kernel must be in 1\.\.7"),
    (ScatterLane, dict(max_kernel=-1), "max_kernel"),
    (ScatterLane, dict(max_kernel=10**6), "max_kernel"),
    (ScatterLane, dict(weight_depth=0), "weight_depth must be a power of two"),
    (ScatterLane, dict(weight_depth=-1), "weight_depth"),
    (ScatterLane, dict(weight_depth=3), "weight_depth"),
    (ScatterLane, dict(weight_depth=1000), "weight_depth must be a power of two"),
    (ScatterLane, dict(weight_depth=10**6), "weight_depth"),
    (ScatterLane, dict(weight_depth=16, max_kernel=5), "weight_depth must hold one max_kernel"),
    (ScatterLane, dict(out_depth=0), "out_depth must be a power of two"),
    (ScatterLane, dict(out_depth=-1), "out_depth"),
    (ScatterLane, dict(out_depth=3), "out_depth"),
    (ScatterLane, dict(out_depth=10**6), "out_depth"),
    (ScatterLane, dict(coord_bits=0), r"coord_bits must be in 4\.\.16"),
    (ScatterLane, dict(coord_bits=3), "coord_bits"),
    (ScatterLane, dict(coord_bits=10**6), "coord_bits"),
    (ScatterLane, dict(load_width=8), r"load_width must be in 16\.\.64"),
    (ScatterLane, dict(load_width=65), "load_width"),
    (ScatterLane, dict(product=3), "product must be None or callable"),
    (ScatterLane, dict(max_kernel=2.0), "max_kernel must be an integer"),
    # OutputStage
    (OutputStage, dict(data_width=3), "data_width must be 8 or 16"),
    (OutputStage, dict(acc_width=20), r"acc_width must be in 32\.\.64"),
    (OutputStage, dict(acc_width=65), "acc_width"),
    # the ROLIN units
    *[(cls, kw, word) for cls in (RolinNorm, RolinStats) for kw, word in [
        (dict(lanes=3), "lanes must be a power of two"), (dict(lanes=0), "lanes"),
        (dict(lanes=10**6), "lanes"), (dict(lanes=128), r"lanes must be a power of two in 1\.\.64"),
        (dict(lanes=8, count_bits=2), r"count_bits must be in 3\.\.16"),
    ]],
    *[(cls, kw, word) for cls in (RolinNorm, RolinStats, RolinParams) for kw, word in [
        (dict(data_width=0), "data_width must be 8 or 16"), (dict(data_width=-1), "data_width"),
        (dict(data_width=3), "data_width"), (dict(data_width=10**6), "data_width"),
        (dict(count_bits=0), "count_bits must be in"), (dict(count_bits=-1), "count_bits"),
        (dict(count_bits=17), r"count_bits must be in \d+\.\.16"),
        (dict(count_bits=10**6), "count_bits"),
        (dict(table_depth=0), r"table_depth must be in 1\.\.65536"),
        (dict(table_depth=-1), "table_depth"), (dict(table_depth=10**6), "table_depth"),
    ]],
    *[(cls, kw, word) for cls in (RolinStats, RolinParams) for kw, word in [
        (dict(chan_bits=0), r"chan_bits must be in 1\.\.16"), (dict(chan_bits=17), "chan_bits"),
        (dict(chan_bits=10**6), "chan_bits"),
    ]],
    # RolinEngine
    (RolinEngine, dict(data_width=12), "data_width must be 8 or 16"),
    (RolinEngine, dict(axi_data_width=48), "axi_data_width must be 32, 64 or 128"),
    (RolinEngine, dict(axi_addr_width=16), r"axi_addr_width must be in 32\.\.64"),
    (RolinEngine, dict(axi_max_burst=0), r"axi_max_burst must be in 1\.\.256"),
    (RolinEngine, dict(axi_max_burst=257), "axi_max_burst"),
    (RolinEngine, dict(axi_max_outstanding_reads=0), r"axi_max_outstanding_reads must be in 1\.\.16"),
    (RolinEngine, dict(axi_max_outstanding_reads=17), "axi_max_outstanding_reads"),
    (RolinEngine, dict(fifo_depth=2), "fifo_depth must be at least 4"),
    (RolinEngine, dict(fifo_depth=48), "fifo_depth must be a power of two"),
    (RolinEngine, dict(count_bits=17), "count_bits must be in"),
    (RolinEngine, dict(axi_data_width=128, data_width=8, count_bits=3), r"count_bits must be in 4\.\.16"),
    (RolinEngine, dict(table_depth=0), r"table_depth must be in 1\.\.65536"),
    (RolinEngine, dict(max_channels=65537), r"max_channels must be in 1\.\.65536"),
    # AxiArbiter
    (AxiArbiter, dict(addr_width=0), r"addr_width must be in 32\.\.64"),
    (AxiArbiter, dict(addr_width=3), "addr_width"),
    (AxiArbiter, dict(addr_width=10**6), "addr_width"),
    (AxiArbiter, dict(data_width=48), "data_width must be a power of two in 8..1024"),
    # Cluster
    (Cluster, dict(cores=0), r"cores must be in 1\.\.16"), (Cluster, dict(cores=17), "cores"),
    (Cluster, dict(core=[4]), "core must be a dict"),
    (Cluster, dict(addr_width=0), r"addr_width must be in 32\.\.64"),
    (Cluster, dict(addr_width=3), "addr_width"), (Cluster, dict(addr_width=10**6), "addr_width"),
    (Cluster, dict(queue_depth=0), "queue_depth must be at least 1"),
    (Cluster, dict(queue_depth=-1), "queue_depth"),
    (Cluster, dict(max_positions=0), "max_positions must be at least 1"),
    (Cluster, dict(max_positions=128), r"max_positions must be at most the cores' out_depth \(64\)"),
    (Cluster, dict(words=3), "words must be a power of two"),
    (Cluster, dict(words=128), r"words must be a power of two in 1\.\.64"),
    (Cluster, dict(max_positions=6), "max_positions must be a multiple of words=4"),
    # CommandProcessor
    (CommandProcessor, dict(addr_width=16), r"addr_width must be in 32\.\.64"),
    (CommandProcessor, dict(data_width=48), "data_width must be 32, 64 or 128 .*axi_data_width"),
    (CommandProcessor, dict(max_burst=0), r"max_burst must be in 1\.\.256"),
    (CommandProcessor, dict(cores=0), r"cores must be in 1\.\.16"),
    (CommandProcessor, dict(cmd_width=0), r"cmd_width must be in 1\.\.4096"),
    (CommandProcessor, dict(coord_bits=17), r"coord_bits must be in 1\.\.16"),
    (CommandProcessor, dict(tag_width=5), r"tag_width must be in 1\.\.4"),
    (CommandProcessor, dict(counters=0), r"counters must be in 1\.\.255"),
    (CommandProcessor, dict(reg_addr_width=3), r"reg_addr_width must be in 4\.\.16"),
    # LoadToElements
    (LoadToElements, dict(data_width=12), "data_width must be 8 or 16"),
    (LoadToElements, dict(lanes=3), "lanes must be a power of two"),
    (LoadToElements, dict(lanes=128), r"lanes must be a power of two in 1\.\.64"),
    (LoadToElements, dict(words=6), "words must be a power of two"),
    (LoadToElements, dict(words=128), r"words must be a power of two in 1\.\.64"),
    (LoadToElements, dict(words=8, coord_bits=3), r"coord_bits must be in 4\.\.16"),
    (LoadToElements, dict(coord_bits=17), "coord_bits"),
    # OutputsToMaps
    (OutputsToMaps, dict(data_width=32), "data_width must be 8 or 16"),
    (OutputsToMaps, dict(lanes=0), r"lanes must be in 1\.\.64"),
    (OutputsToMaps, dict(words=3), "words must be a power of two"),
    (OutputsToMaps, dict(max_positions=2), r"max_positions must be in 4\.\.65536"),
    (OutputsToMaps, dict(max_positions=10), "max_positions must be a multiple of words=4"),
    (OutputsToMaps, dict(max_positions=1 << 17), "max_positions"),
    # AxiLiteXbar
    (AxiLiteXbar, dict(managers=0), r"managers must be in 1\.\.4"),
    (AxiLiteXbar, dict(addr_width=2), r"addr_width must be in 3\.\.64"),
    (AxiLiteXbar, dict(banks=[3]), "banks must be a list of"),
    (AxiLiteXbar, dict(banks=[(0, 2)]), r"banks\[0\] addr_width must be in 3\.\.32"),
    (AxiLiteXbar, dict(banks=[(-4096, 12)]), r"banks\[0\] base must be at least 0"),
    (AxiLiteXbar, dict(banks=[(0x100, 12)]), r"banks\[0\]: the bank at 0x100 .* aligned"),
    (AxiLiteXbar, dict(banks=[(0x4000, 12)]), r"banks\[0\]: .*inside the 14-bit"),
    (AxiLiteXbar, dict(banks=[(0, 12), (0x800, 8)]), r"banks\[1\]: .*overlaps banks\[0\]"),
    # AxiLiteCsr
    (AxiLiteCsr, dict(regmap=[]), "regmap must be a RegisterMap"),
    # Fanout, StoreArbiter
    (Fanout, dict(outputs=0), r"outputs must be in 1\.\.16"),
    (Fanout, dict(outputs=17), "outputs"),
    (Fanout, dict(shape="wide"), "shape must be shape-like"),
    (StoreArbiter, dict(cores=0), r"cores must be in 1\.\.16"),
    (StoreArbiter, dict(addr_width=3), r"addr_width must be in 32\.\.64"),
    (StoreArbiter, dict(word_width=24), "word_width must be a power of two in 8..1024"),
    (StoreArbiter, dict(queue_depth=0), "queue_depth must be at least 1"),
    # EorsUnit
    (EorsUnit, dict(data_width=12), "data_width must be 8 or 16"),
    (EorsUnit, dict(mantissa_bits=5), r"mantissa_bits must be in 0\.\.4"),
    (EorsUnit, dict(mantissa_bits=-1), "mantissa_bits"),
    (EorsUnit, dict(data_width=8, mantissa_bits=4, acc_width=15), r"mantissa_bits must be in 0\.\.3"),
    (EorsUnit, dict(acc_width=30), r"acc_width must be in 31\.\.63"),
    (EorsUnit, dict(acc_width=64), "acc_width"),
    (EorsUnit, dict(lanes=3), "lanes must be a power of two"),          # the core's rule
    (EorsUnit, dict(coord_bits=3), r"coord_bits must be in 4\.\.16"),   # the core's rule
    # EorsPipeline
    (EorsPipeline, dict(core=4), "core must be a dict of SparseCore"),
    (EorsPipeline, dict(unit=None), "unit must be a dict of EorsUnit"),
    # System, Accelerator: their own rules (a part's refusal carries the part's name)
    (System, dict(cores=0), r"cores must be in 1\.\.16"),
    (System, dict(cores=17), "cores"),
    (System, dict(core=3), "core must be a dict"),
    (System, dict(engine=[1]), "engine must be a dict"),
    (System, dict(max_positions=0), "max_positions must be at least 1"),
    (System, dict(max_burst=0), r"max_burst must be in 1\.\.256"),
    (System, dict(max_burst=257), "max_burst"),
    (System, dict(engine=dict(axi_data_width=32, data_width=8)),
     r"data_width of the cores \(16\) and of the engine \(8\) must be equal"),
    (Accelerator, dict(core="big"), "core must be a dict"),
    (Accelerator, dict(max_positions=0), "max_positions must be at least 1"),
    (Accelerator, dict(max_positions=128), r"max_positions must be at most the core's out_depth"),
    (Accelerator, dict(max_positions=7), r"max_positions must be a multiple of the engine's lanes \(2\)"),
    (Accelerator, dict(engine=dict(axi_data_width=32, data_width=8)),
     "data_width of the core .* must be equal"),
]


def _id(case):
    cls, kw, _ = case
    return cls.__name__ + "-" + "-".join(f"{k}={v!r}"[:24] for k, v in kw.items())


@pytest.mark.parametrize("cls,kwargs,message", CASES, ids=[_id(c) for c in CASES])
def test_bad_parameter_is_refused_naming_component_and_parameter(cls, kwargs, message):
    with pytest.raises(ValueError, match=f"^{cls.__name__}: {message}"):
        cls(**{**BASE.get(cls, {}), **kwargs})


@pytest.mark.parametrize("cls", sorted({case[0] for case in CASES}, key=lambda c: c.__name__))
def test_base_arguments_build(cls):
    """The arguments the cases start from are good: each case breaks one rule only."""
    unused(cls(**BASE.get(cls, {})))


@pytest.mark.parametrize("preset", list(PRESETS))
def test_every_top_builds_for_every_preset(preset):
    for name in tops.TOPS:
        built = tops.build(name, get_preset(preset), preset)
        unused(built.component)                   # built only: never elaborated here
