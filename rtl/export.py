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
"""

import re

from amaranth.back import verilog

__all__ = ["to_verilog"]

_TRIGGER = re.compile(r"^(\s*)reg (\\\$auto\$verilog_backend\.cc:\d+:dump_module\$\d+)\s*= 0;$",
                      re.MULTILINE)


def to_verilog(component, name):
    """Verilog text of ``component`` as module ``name`` (no source attributes)."""
    text = verilog.convert(component, name=name, emit_src=False)
    return _TRIGGER.sub(lambda mt: f"{mt.group(0)}\n`ifndef SYNTHESIS\n`ifndef VERILATOR\n"
                                   f"{mt.group(1)}initial #0 {mt.group(2)} = 1'h1;\n"
                                   f"`endif\n`endif", text)
