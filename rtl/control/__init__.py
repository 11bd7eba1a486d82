"""The command processor: fetches a program from external memory and runs it (core
command beats, tile loads and stores, register writes and polls, barriers, counter
snapshots, END with an interrupt).

* :mod:`.isa`: the instruction set, defined once (the RTL decodes it, the firmware
  encodes it, ``docs/control.md``'s tables come from it);
* :mod:`.processor`: :class:`~.processor.CommandProcessor`.
"""

from .isa import ISA, Error, Opcode
from .processor import CommandProcessor

__all__ = ["ISA", "Error", "Opcode", "CommandProcessor"]
