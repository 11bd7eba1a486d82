"""The top-level blocks a configuration builds: one table shared by ``ganforge verilog``
(writes a block's Verilog) and ``ganforge area`` (synthesises blocks with Yosys).

:data:`TOPS` maps a name to a :class:`Top`; :func:`build` makes the block for an
:class:`~ganforge.config.AcceleratorConfig` and :func:`write_verilog` writes it. Names are
written with ``-``; :func:`canonical` also reads ``_`` as ``-`` (``output_stage``).
Adding a block is one builder function and one line in :data:`TOPS`. Builders import their
RTL lazily, so the CLI stays fast and one broken module does not break the others.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

from ganforge.errors import RunError, UserError

__all__ = ["Top", "Built", "TOPS", "AREA_DEFAULT", "canonical", "module_name", "build",
           "write_verilog"]


@dataclass(frozen=True)
class Built:
    """A block built for a configuration: the Amaranth component, a one-line description,
    the lane count the per-lane area columns divide by, and a note (or None) on what of
    the configuration the block leaves out."""
    component: object
    description: str
    lanes: int
    note: str | None = None


@dataclass(frozen=True)
class Top:
    """One entry of :data:`TOPS`: ``summary`` for the listings, ``builder(config) -> Built``,
    and whether ``ganforge area`` synthesises it when no ``--component`` is given."""
    summary: str
    builder: Callable[..., Built]
    area_default: bool = True


# --- builders ---------------------------------------------------------------------

def _output_stage(config):
    from ganforge.rtl.core.output_stage import OutputStage
    return Built(OutputStage(acc_width=config.acc_width, data_width=config.data_width),
                 f"output stage: requantise {config.acc_width}->{config.data_width} bits, "
                 f"activate, ReLU mask", 1)


def _lane(config):
    from ganforge.rtl.core.lane import ScatterLane
    return Built(ScatterLane(data_width=config.data_width, acc_width=config.acc_width,
                             max_kernel=config.max_kernel, weight_depth=config.weight_buffer_depth,
                             out_depth=config.output_buffer_depth),
                 f"scatter lane: {config.data_width}-bit MAC, K<={config.max_kernel}, "
                 f"{config.weight_buffer_depth} weights, {config.output_buffer_depth} accumulators",
                 1)


def _one_core_note(config):
    if config.total_cores == 1:
        return None
    return (f"one core of the configuration's {config.total_cores} "
            f"({config.clusters} cluster(s) x {config.cores_per_cluster} core(s)); "
            f"the whole accelerator is the 'accelerator' top")


def _core(config):
    from ganforge.config import core_from_config
    from ganforge.rtl.core import SparseCore
    return Built(SparseCore(**core_from_config(config)),
                 f"sparse core: {config.lanes_per_core} lanes, {config.weight_buffer_depth} "
                 f"weights and {config.output_buffer_depth} accumulators per lane",
                 config.lanes_per_core)


def _eors_unit(config):
    from ganforge.config import eors_unit_from_config
    from ganforge.rtl.eors import EorsUnit
    kw = eors_unit_from_config(config)
    return Built(EorsUnit(**kw),
                 f"EORS speculation unit: {kw['lanes']} shift-add lanes, {kw['mantissa_bits']} "
                 f"mantissa bits, {kw['acc_width']}+1-bit accumulators", kw["lanes"])


def _eors_pipeline(config):
    from ganforge.config import core_from_config, eors_unit_from_config
    from ganforge.rtl.eors import EorsPipeline
    unit, core = eors_unit_from_config(config), core_from_config(config)
    return Built(EorsPipeline(core=core, unit=unit),
                 f"EORS pipeline: a {unit['lanes']}-lane speculation unit beside a "
                 f"{core['lanes']}-lane sparse core", core["lanes"])


def _core_engine(config):
    from ganforge.rtl.top.accelerator import Accelerator
    from ganforge.config import accelerator_from_config
    kw = accelerator_from_config(config)
    engine = kw["engine"]
    return Built(Accelerator(**kw),
                 f"core-engine: a host-driven {config.lanes_per_core}-lane sparse core behind "
                 f"the ROLIN engine ({config.axi_data_width}-bit AXI4 DMA, "
                 f"{engine['max_channels']} channels), tiles of up to {kw['max_positions']} "
                 f"positions", config.lanes_per_core, _one_core_note(config))


def _system(config):
    from ganforge.rtl.top.system import System
    from ganforge.config import system_from_config
    kw = system_from_config(config)
    n = kw["cores"]
    return Built(System(**kw),
                 f"accelerator: command processor, {n} x {config.lanes_per_core}-lane sparse "
                 f"core(s) ({config.clusters} cluster(s) x {config.cores_per_cluster}) behind "
                 f"the interconnect, the ROLIN engine, {config.axi_data_width}-bit AXI4 "
                 f"memory port, AXI4-Lite registers", n * config.lanes_per_core)


def _dma(config):
    from ganforge.rtl.bus.dma import Dma
    return Built(Dma(addr_width=config.axi_addr_width, data_width=config.axi_data_width,
                     max_burst=config.axi_max_burst,
                     max_outstanding_reads=config.axi_max_outstanding_reads),
                 f"AXI4 DMA: {config.axi_data_width}-bit, bursts of {config.axi_max_burst}, "
                 f"{config.axi_max_outstanding_reads} outstanding reads", 1)


def _rolin_engine(config):
    from ganforge.rtl.rolin.engine import RolinEngine
    from ganforge.config import engine_from_config
    kw = engine_from_config(config)
    return Built(RolinEngine(**kw),
                 f"ROLIN engine: {config.axi_data_width}-bit AXI4 DMA, CSRs, statistics, "
                 f"parameter and normalise units, {kw['max_channels']} channels", 1)


def _rolin(unit, what):
    def build(config):
        from ganforge.rtl.rolin import norm, params, stats
        lanes = config.axi_data_width // config.data_width
        cls = {"stats": stats.RolinStats, "params": params.RolinParams, "norm": norm.RolinNorm}[unit]
        kw = {} if unit == "params" else {"lanes": lanes}
        return Built(cls(data_width=config.data_width, **kw),
                     f"ROLIN {what}" + ("" if unit == "params" else f", {lanes} lanes"), 1)
    return build


TOPS: dict[str, Top] = {
    "core": Top("the sparse core", _core),
    "lane": Top("one scatter lane of the core", _lane),
    "output-stage": Top("the output stage of a lane (requantise, activate)", _output_stage),
    "eors-unit": Top("the EORS speculation unit", _eors_unit),
    "eors-pipeline": Top("the EORS unit and the core overlapped", _eors_pipeline,
                         area_default=False),
    "accelerator": Top("the whole accelerator: command processor, cores, interconnect, "
                       "ROLIN engine", _system, area_default=False),
    "core-engine": Top("one host-driven sparse core behind the ROLIN engine", _core_engine,
                       area_default=False),
    "dma": Top("the AXI4 DMA", _dma),
    "rolin-engine": Top("the ROLIN engine (DMA, CSRs, ROLIN units)", _rolin_engine,
                        area_default=False),
    "rolin-stats": Top("the ROLIN statistics unit", _rolin("stats", "statistics unit")),
    "rolin-params": Top("the ROLIN parameter unit",
                        _rolin("params", "parameter unit (sequential)")),
    "rolin-norm": Top("the ROLIN normalise unit", _rolin("norm", "normalise/activate unit")),
}

#: What ``ganforge area`` synthesises when no ``--component`` is given.
AREA_DEFAULT = tuple(name for name, top in TOPS.items() if top.area_default)


def canonical(name):
    """The :data:`TOPS` key of ``name`` (``_`` read as ``-``); UserError listing the choices."""
    key = name.strip().lower().replace("_", "-")
    if key not in TOPS:
        raise UserError(f"unknown top {name!r} (choose from: {', '.join(TOPS)})")
    return key


def module_name(name):
    """The Verilog module name of top ``name``: ``output-stage`` -> ``output_stage``."""
    return canonical(name).replace("-", "_")


def build(name, config, preset=None):
    """Build top ``name`` for ``config``; a block the configuration cannot build is a
    :class:`~ganforge.errors.UserError` naming the block, the preset and the parameter."""
    name = canonical(name)
    try:
        return TOPS[name].builder(config)
    except ValueError as exc:
        where = f" for preset {preset}" if preset else ""
        raise UserError(f"cannot build {name}{where}: {exc}") from None


def write_verilog(component, module, path):
    """Write the Verilog of ``component`` as module ``module`` to ``path`` (folders made as
    needed) with :func:`ganforge.rtl.export.to_verilog`; return the text. An elaboration
    failure is a :class:`~ganforge.errors.RunError` and a path that cannot be written a
    :class:`~ganforge.errors.UserError`, each one line."""
    from ganforge.rtl.export import to_verilog
    try:
        text = to_verilog(component, module)
    except Exception as exc:  # elaboration errors of any kind: one line, not a traceback
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RunError(f"cannot generate Verilog for {module}: {type(exc).__name__}: {msg}") from None
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror}") from None
    return text
