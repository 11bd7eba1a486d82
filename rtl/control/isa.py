"""The command processor's instruction set, defined once.

An instruction is :data:`INSTR_BITS` (128) bits, stored little-endian in
:data:`INSTR_BYTES` (16) bytes at a 16-byte aligned address; a program is a
run of them from the ``BASE`` register. Bits ``[0:8]`` are the opcode. The
other fields depend on the opcode and sit at fixed bit offsets, so the
decoder is wiring: :func:`instr_layout` is an ``amaranth.lib.data`` union of
one layout per instruction (``view.core.addr``).

From :data:`ISA` come:

* the RTL decoder (:class:`~ganforge.rtl.control.processor.CommandProcessor`
  reads the fields through :func:`instr_layout`);
* the firmware's encoder (:func:`encode`, and
  :mod:`ganforge.firmware.compiler.cp` builds programs from it);
* the documentation's table (:func:`render_markdown`; ``python -m ganforge.rtl.control`` rewrites them in
  ``docs/control.md``).

:class:`Error` lists the processor's error codes (its ``STATUS.error``).
"""

import enum
from dataclasses import dataclass

from amaranth.hdl import unsigned
from amaranth.lib import data

__all__ = ["INSTR_BITS", "INSTR_BYTES", "Arg", "Instr", "ISA", "Opcode", "Cond", "Error", "ERROR_DOCS",
           "instr_layout", "encode", "render_markdown"]

INSTR_BITS = 128
INSTR_BYTES = INSTR_BITS // 8
OPCODE_BITS = 8


@dataclass(frozen=True)
class Arg:
    """A field of an instruction: ``width`` bits from bit ``offset``."""
    name: str
    offset: int
    width: int
    doc: str


@dataclass(frozen=True)
class Instr:
    """An instruction: its opcode, its fields (besides the opcode) and what it does."""
    name: str
    code: int
    doc: str
    args: tuple = ()

    def __post_init__(self):
        spans = [(0, OPCODE_BITS, "op")]
        for a in self.args:
            if a.offset < OPCODE_BITS or a.offset + a.width > INSTR_BITS or a.width < 1:
                raise ValueError(f"instruction {self.name}: field {a.name} outside bits "
                                 f"{OPCODE_BITS}..{INSTR_BITS - 1}")
            for lo, hi, other in spans:
                if a.offset < hi and lo < a.offset + a.width:
                    raise ValueError(f"instruction {self.name}: field {a.name} overlaps {other}")
            spans.append((a.offset, a.offset + a.width, a.name))

    def arg(self, name):
        for a in self.args:
            if a.name == name:
                return a
        raise KeyError(f"instruction {self.name} has no field {name!r}")


_ADDR = Arg("addr", 64, 64, "byte address in external memory")
_MASK = Arg("mask", 8, 16, "the cores it goes to, one bit per core (bit c: core c)")

#: The instruction set, in opcode order.
ISA = (
    Instr("NOP", 0, "does nothing"),
    Instr("END", 1, "ends its thread; the last thread to end ends the program: STATUS.done, "
          "the interrupt"),
    Instr("CORE", 2, "streams ``beats`` core command beats (descriptors, setup, weights) from "
          "``addr`` to the cores of ``mask``; each beat takes ``beat_bytes`` bytes "
          "(the command width rounded up to whole bus words)",
          (_MASK, Arg("beats", 32, 24, "core command beats"), _ADDR)),
    Instr("LOAD", 3, "a DMA read command for the engine; the data of a tag-0 read goes to "
          "the cores of ``mask`` (one core: unicast; several: multicast, read once)",
          (Arg("tag", 8, 4, "the read's tag (0: to the cores; others: the engine's own)"),
           Arg("mask", 16, 16, "the cores the data goes to (bit c: core c)"),
           Arg("length", 32, 32, "bytes"), _ADDR)),
    Instr("STORE", 4, "a DMA write command for core ``core``'s next tile",
          (Arg("core", 8, 4, "the core whose tile it stores"),
           Arg("length", 32, 32, "bytes"), _ADDR)),
    Instr("GEOM", 5, "a pass's input geometry to the load adapters of the cores of ``mask``",
          (_MASK, Arg("cin", 32, 16, "input channels"), Arg("in_h", 48, 16, "input height"),
           Arg("in_w", 64, 16, "input width"))),
    Instr("REG", 6, "writes ``value`` to the register at ``reg`` (register port, AXI4-Lite)",
          (Arg("reg", 16, 16, "byte address on the register port"),
           Arg("value", 32, 32, "the word written"))),
    Instr("POLL", 7, "reads the register at ``reg`` until ``cond`` holds between its bits "
          "under ``mask`` and ``value`` (within the wait budget)",
          (Arg("cond", 8, 2, "0: equal, 1: not equal, 2: unsigned greater or equal"),
           Arg("reg", 16, 16, "byte address on the register port"),
           Arg("value", 32, 32, "compared with the register's masked bits"),
           Arg("mask", 64, 32, "the bits compared"))),
    Instr("WAIT", 8, "its thread waits until every ``idle`` input selected by ``mask`` is 1; "
          "the other threads run meanwhile (within the wait budget)",
          (Arg("mask", 8, 32, "the ``idle`` inputs waited for"),)),
    Instr("SNAPSHOT", 9, "writes the ``counters`` inputs (64 bits each, in order) to ``addr``",
          (_ADDR,)),
    Instr("FORK", 10, "starts thread ``thread`` (one that is not running) at ``addr``",
          (Arg("thread", 8, 4, "the thread started"),
           Arg("addr", 64, 64, "its first instruction (16-byte aligned)"))),
    Instr("SIGNAL", 11, "adds 1 to event counter ``event``",
          (Arg("event", 8, 8, "the event counter"),)),
    Instr("WAITEV", 12, "its thread waits until event counter ``event`` is at least ``count``; "
          "the other threads run meanwhile (within the wait budget)",
          (Arg("event", 8, 8, "the event counter"),
           Arg("count", 32, 32, "the count waited for"))),
)


class Opcode(enum.IntEnum):
    NOP = 0
    END = 1
    CORE = 2
    LOAD = 3
    STORE = 4
    GEOM = 5
    REG = 6
    POLL = 7
    WAIT = 8
    SNAPSHOT = 9
    FORK = 10
    SIGNAL = 11
    WAITEV = 12


class Cond(enum.IntEnum):
    """``POLL``'s comparison of ``register & mask`` with ``value``."""
    EQ = 0
    NE = 1
    GE = 2


class Error(enum.IntEnum):
    """The command processor's error codes (``STATUS.error``; 0: none). A program stops at
    its first error, with the failing instruction's address in ``ERROR_PC``
    (:data:`ERROR_DOCS` says what each means)."""
    NONE = 0
    OPCODE = 1
    WINDOW = 2
    ALIGN = 3
    BUS = 4
    REG = 5
    CORE = 6
    FAULT = 7
    TIMEOUT = 8
    ABORTED = 9


#: What each error code means (the documentation's table).
ERROR_DOCS = {
    Error.NONE: "no error",
    Error.OPCODE: "an opcode the processor does not know, or a field beyond what it was built "
                  "for (a core, an ``idle`` input, a tag, a coordinate, a register address, a "
                  "thread, an event counter), or a ``FORK`` of a thread that is running",
    Error.WINDOW: "an access (an instruction fetch, or an instruction's memory range) outside "
                  "[``WIN_LO``, ``WIN_HI``) or the address space",
    Error.ALIGN: "``BASE`` or a ``FORK`` address not 16-byte aligned, or a ``CORE`` or "
                 "``SNAPSHOT`` address not aligned to the bus width",
    Error.BUS: "an AXI error response to the processor's own reads or writes",
    Error.REG: "an error response on the register port (``REG``, ``POLL``)",
    Error.CORE: "a core reported an error (it refused a descriptor or a load)",
    Error.FAULT: "the ``fault`` input: the engine or an adapter reported an error",
    Error.TIMEOUT: "an instruction made no progress for ``BUDGET`` cycles (every thread "
                   "waiting counts as one instruction)",
    Error.ABORTED: "the host wrote ``CTRL.abort``",
}


assert [i.name for i in ISA] == [o.name for o in Opcode]
assert all(i.code == Opcode[i.name] for i in ISA)

_BY_NAME = {i.name: i for i in ISA}


def instr_layout():
    """The instruction as a union of one layout per instruction (lower-case names), each
    with the opcode ``op`` at bit 0 and its fields at their offsets."""
    return data.UnionLayout({
        i.name.lower(): data.FlexibleLayout(INSTR_BITS, {
            "op": data.Field(unsigned(OPCODE_BITS), 0),
            **{a.name: data.Field(unsigned(a.width), a.offset) for a in i.args}})
        for i in ISA})


def encode(name, **fields):
    """The 128-bit integer of instruction ``name`` with ``fields`` (missing fields are 0).

    An unknown instruction or field, or a value that is negative or does not fit its field,
    raises ``ValueError`` naming it.
    """
    if name not in _BY_NAME:
        raise ValueError(f"unknown instruction {name!r} (valid: {', '.join(_BY_NAME)})")
    instr = _BY_NAME[name]
    word = instr.code
    for key, value in fields.items():
        try:
            a = instr.arg(key)
        except KeyError as exc:
            raise ValueError(exc.args[0]) from None
        value = int(value)
        if not 0 <= value < 1 << a.width:
            raise ValueError(f"instruction {name}: field {key} = {value} does not fit "
                             f"{a.width} bits")
        word |= value << a.offset
    return word


def render_markdown(*, level=2):
    """The instruction set as Markdown: one table of opcodes, one of each instruction's
    fields, and the error codes."""
    h = "#" * level
    out = [f"{h} Instructions", "",
           f"{INSTR_BITS} bits, little-endian, 16-byte aligned; opcode in bits 0..7.", "",
           "| opcode | name | what it does |", "|---:|---|---|"]
    out += [f"| {i.code} | `{i.name}` | {i.doc} |" for i in ISA]
    out += ["", f"{h} Fields", "", "| instruction | field | bits | meaning |", "|---|---|---|---|"]
    for i in ISA:
        for a in i.args:
            out.append(f"| `{i.name}` | `{a.name}` | {a.offset}..{a.offset + a.width - 1} | "
                       f"{a.doc} |")
    out += ["", f"{h} Error codes", "", "| code | name | meaning |", "|---:|---|---|"]
    out += [f"| {e.value} | `{e.name}` | {ERROR_DOCS[e]} |" for e in Error]
    return "\n".join(out) + "\n"


def write_docs(path):
    """Rewrite the generated section of ``path`` (between ``<!-- isa:begin -->`` and
    ``<!-- isa:end -->``) with :func:`render_markdown`."""
    from pathlib import Path
    path = Path(path)
    text = path.read_text()
    begin, end = "<!-- isa:begin -->", "<!-- isa:end -->"
    if begin not in text or end not in text:
        raise ValueError(f"{path} has no {begin} ... {end} section")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    path.write_text(f"{head}{begin}\n{render_markdown(level=3)}{end}{tail}")

