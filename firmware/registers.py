"""Register field codecs, from the blocks' register maps.

The firmware never packs a register word by hand: :func:`encode` builds a word
from named fields and :func:`decode` splits one, both from the
:class:`~ganforge.rtl.bus.regmap.Register` that the RTL decoder is built from.
A value that does not fit its field (or a name that is not one of its named
values, or a field the register does not have) raises ``ValueError`` naming
the register and the field.

:data:`MAPS` lists every block's map; :func:`render_docs` renders them all as
the Markdown of ``docs/registers.md``, and ``python -m
ganforge.firmware.registers [PATH]`` writes it (to ``docs/registers.md`` by
default; a test fails while the file is stale).
"""

import sys
from pathlib import Path

from ganforge.rtl.bus.regmap import Register, render_markdown
from ganforge.rtl.control.processor import REGMAP as PROCESSOR
from ganforge.rtl.rolin.engine import REGMAP as ROLIN

__all__ = ["ROLIN", "PROCESSOR", "MAPS", "encode", "decode", "render_docs", "write_docs"]

#: Every block's register map, in the order of the documentation.
MAPS = {"rolin_engine": ROLIN, "command_processor": PROCESSOR}


def _register(reg):
    if not isinstance(reg, Register):
        raise ValueError(f"reg must be a Register (e.g. ROLIN['mode']), got {reg!r}")
    return reg


def _field_value(reg, f, value):
    where = f"register {reg.name} field {f.name}"
    if isinstance(value, str):
        named = dict(f.values)
        if value not in named:
            choices = ", ".join(named) if named else "none"
            raise ValueError(f"{where}: {value!r} is not one of its named values ({choices})")
        value = named[value]
    if isinstance(value, bool):
        value = int(value)
    try:
        if int(value) != value:
            raise TypeError
        value = int(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{where}: {value!r} is not an integer") from None
    if not f.min <= value <= f.max:
        kind = "signed" if f.signed else "unsigned"
        raise ValueError(f"{where}: {value} does not fit {f.width} {kind} bits [{f.min}, {f.max}]")
    return value


def encode(reg, **fields):
    """The word of register ``reg`` holding ``fields`` (names to integers, or to a field's
    named values); a field not given takes its reset value. A register described without
    fields takes ``value=``."""
    reg = _register(reg)
    given = dict(fields)
    word = reg.reset
    for f in reg.fields:
        if f.name in given:
            v = _field_value(reg, f, given.pop(f.name))
            mask = (1 << f.width) - 1
            word = (word & ~(mask << f.offset)) | ((v & mask) << f.offset)
    if given:
        reg.field(next(iter(given)))          # raises, naming the register and its fields
    return word


def decode(reg, word):
    """The fields of register ``reg`` in ``word``, as a dict of integers (signed fields
    sign-extended). A word wider than the register, or with a bit set outside every field,
    raises ``ValueError``."""
    reg = _register(reg)
    if not isinstance(word, int) or not 0 <= word < 1 << reg.width:
        shown = f"{word:#x}" if isinstance(word, int) else repr(word)
        raise ValueError(f"register {reg.name}: {shown} is not a {reg.width}-bit word")
    out, used = {}, 0
    for f in reg.fields:
        mask = (1 << f.width) - 1
        v = (word >> f.offset) & mask
        out[f.name] = v - (1 << f.width) if f.signed and v >> (f.width - 1) else v
        used |= mask << f.offset
    if word & ~used:
        raise ValueError(f"register {reg.name}: {word:#x} sets reserved bits {word & ~used:#x}")
    return out


def render_docs():
    """The Markdown of ``docs/registers.md``: every map of :data:`MAPS`."""
    head = ["# Registers", "",
            "Generated from the register maps (`rtl/bus/regmap.py`) by "
            "`python -m ganforge.firmware.registers`; do not edit by hand. The same maps build "
            "the RTL decoders (`AxiLiteCsr`) and the firmware's codecs "
            "(`ganforge.firmware.registers.encode` / `decode`).", ""]
    return "\n".join(head + [render_markdown(m) for m in MAPS.values()])


def write_docs(path):
    """Write :func:`render_docs` to ``path``; returns the path."""
    path = Path(path)
    path.write_text(render_docs())
    return path


if __name__ == "__main__":
    print(write_docs(sys.argv[1] if len(sys.argv) > 1 else "docs/registers.md"))
