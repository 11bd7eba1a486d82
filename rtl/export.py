"""Verilog of a component, as every ganforge tool writes it.

:func:`to_verilog` is ``amaranth.back.verilog.convert`` plus one fix for
event-driven simulators. Yosys writes each combinational process as an
``always @*`` block that also reads a register
``$auto$verilog_backend...dump_module$N`` initialised to 0, so that the block
runs once at time 0. Icarus Verilog does not treat a declaration initialiser
as an event, so a block whose inputs never change (a multiplexer over
registers that keep their reset values) would stay X for the whole run. The
fix sets that register to 1 at time 0 (``#0``, after every block has started
waiting), inside ```ifndef SYNTHESIS`` (defined by Yosys, Vivado and Quartus
while synthesising) and ```ifndef VERILATOR`` (Verilator settles all
combinational logic at time 0 by itself, and a delay needs its ``--timing``),
so event-driven simulators run every block once and synthesis sees the
netlist unchanged.

Yosys also writes some ``always @*`` blocks of a single statement without
reading that register (a constant, or a copy of one register into part of an
output). Icarus never runs such a block if its inputs never change, so
:func:`to_verilog` gives each of them the same trigger as the other blocks of
its module (an empty ``if``, a no-op everywhere else).
"""

import re

from amaranth.back import verilog
from amaranth.hdl import Fragment, Value, ValueCastable
from amaranth.hdl._ir import PortDirection  # as amaranth.back.verilog.convert uses it
from amaranth.lib import wiring

__all__ = ["to_verilog"]

_TRIGGER = re.compile(r"^(\s*)reg (\\\$auto\$verilog_backend\.cc:\d+:dump_module\$\d+)\s*= 0;$",
                      re.MULTILINE)


_SINGLE = re.compile(r"^(\s*)always @\*\n(\s*)([^\n]*;)$", re.MULTILINE)


def _trigger_single_blocks(text):
    out = []
    for module in re.split(r"(?<=\nendmodule\n)", text):
        trig = _TRIGGER.search(module)
        if trig:
            name = trig.group(2)
            module = _SINGLE.sub(lambda mt: f"{mt.group(1)}always @* begin\n{mt.group(2)}if ({name} ) "
                                            f"begin end\n{mt.group(2)}{mt.group(3)}\n{mt.group(1)}end",
                                 module)
        out.append(module)
    return "".join(out)


def _outputs(obj):
    """The port names (``o__payload``) of the ``Out`` members of component ``obj``, with
    their widths."""
    if not isinstance(obj, wiring.Component):
        return {}
    return {"__".join(map(str, path)): Value.cast(value).shape().width
            for path, member, value in obj.signature.flatten(obj) if member.flow == wiring.Out}


def _convert_with_modules(component, name, modules):
    """``verilog.convert(component, name=name, emit_src=False)``, also filling ``modules``
    with ``{Verilog module name: {"origins": ("package.module.Class", ...), "outputs":
    (...)}}``: the classes whose ``elaborate`` made each module (its fragment's origins,
    outermost first) and the ``Out`` members of the first if it is a component, for
    ``make lint`` (``outputs``: ``{port name: width}``)."""
    ports = {}                                   # as verilog.convert makes them
    for path, member, value in component.signature.flatten(component):
        if isinstance(value, ValueCastable):
            value = value.as_value()
        if isinstance(value, Value):
            ports["__".join(map(str, path))] = (value, PortDirection.Input if member.flow == wiring.In
                                                else PortDirection.Output)
    design = Fragment.get(component, None).prepare(ports=ports, hierarchy=(name,))
    for fragment, info in design.fragments.items():
        # a transformer's wrapper (ResetInserter(...)(sub): a class of amaranth.hdl itself)
        # is not what made the module: the component inside it is
        origins = tuple(o for o in fragment.origins or ()
                        if not type(o).__module__.startswith("amaranth.hdl."))
        modules[".".join(info.name)] = {
            "origins": tuple(f"{type(o).__module__}.{type(o).__qualname__}" for o in origins),
            "outputs": _outputs(origins[0]) if origins else {}}
    return verilog.convert_fragment(design, name=name, emit_src=False)[0]


def to_verilog(component, name, *, modules=None):
    """Verilog text of ``component`` as module ``name`` (no source attributes).

    If ``modules`` is a dict, it is filled with the origins and outputs of every module
    written: ``{"top.fifo": {"origins": ("amaranth.lib.fifo.SyncFIFOBuffered", ...),
    "outputs": ("w_rdy", ...)}, ...}``."""
    if modules is None:
        text = verilog.convert(component, name=name, emit_src=False)
    else:
        text = _convert_with_modules(component, name, modules)
    text = _trigger_single_blocks(text)
    return _TRIGGER.sub(lambda mt: f"{mt.group(0)}\n`ifndef SYNTHESIS\n`ifndef VERILATOR\n"
                                   f"{mt.group(1)}initial #0 {mt.group(2)} = 1'h1;\n"
                                   f"`endif\n`endif", text)
