"""Programs of the command processor: instructions into bytes, core beats into memory.

The encoding is the processor's own (:mod:`ganforge.rtl.control.isa`):
:func:`~ganforge.rtl.control.isa.encode` builds each instruction from its
named fields and refuses a field that does not fit. This module only lays
programs and the core command beats a ``CORE`` instruction streams out in
memory, the way :class:`~ganforge.rtl.control.processor.CommandProcessor`
reads them.
"""

from ganforge.rtl.control.isa import INSTR_BYTES, encode

__all__ = ["assemble", "beat_bytes", "pack_beats", "instr"]


def instr(name, **fields):
    """One instruction as ``(name, fields)``, checked now (``ValueError`` naming the field)."""
    encode(name, **fields)
    return name, fields


def assemble(program):
    """The bytes of ``program`` (a list of ``(name, fields)``), little-endian, 16 per
    instruction."""
    return b"".join(encode(name, **fields).to_bytes(INSTR_BYTES, "little")
                    for name, fields in program)


def beat_bytes(cmd_width, data_width):
    """Bytes a core command beat of ``cmd_width`` bits takes in memory: whole bus words of
    ``data_width`` bits."""
    return -(-cmd_width // data_width) * data_width // 8


def pack_beats(beats, cmd_width, data_width):
    """The bytes of core command beats (integers of ``cmd_width`` bits) as a ``CORE``
    instruction reads them: each little-endian in :func:`beat_bytes` bytes."""
    n = beat_bytes(cmd_width, data_width)
    out = bytearray()
    for b in beats:
        if not 0 <= b < 1 << cmd_width:
            raise ValueError(f"core command beat {b:#x} does not fit {cmd_width} bits")
        out += b.to_bytes(n, "little")
    return bytes(out)
