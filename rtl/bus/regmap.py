"""Register maps: registers with named bit fields, described once.

A block's :class:`RegisterMap` is the single description of its control and
status registers. From it come

* the RTL decoder: :class:`~ganforge.rtl.bus.csr.AxiLiteCsr` makes one port
  per register, shaped by :meth:`Register.shape` (a register with fields is a
  ``lib.data`` view, so ``csr.mode.ld_mode`` is the field);
* the firmware's field codecs (:mod:`ganforge.firmware.registers`);
* the documentation's bit-field tables (:func:`render_markdown`).

In the spirit of amaranth-soc's ``csr.Register`` and ``csr.Field``, written
here for a plain AXI4-Lite bank:

* a :class:`Field` is ``name``, bit ``offset``, ``width``, signedness, access
  (that of its register: the bank stores, strobes or reads whole registers),
  an optional set of named ``values``, and a ``doc`` line;
* a :class:`Register` is ``name``, byte ``addr``, ``access`` (``ro``, ``rw``,
  ``wo``), ``width`` (up to 64 bits: two words), ``reset`` and its fields;
  a register declared without fields has one, ``value``, over its width;
* a :class:`RegisterMap` is a named list of registers in an
  ``addr_width``-bit byte address space of 32-bit words.

Every description is checked when it is built: a field outside its register
or overlapping another, a register outside the address space or overlapping
another, a bad access, width or reset each raise ``ValueError`` naming the
register and field.
"""

import re
from dataclasses import dataclass, replace

from amaranth.hdl import signed, unsigned
from amaranth.lib import data

__all__ = ["ACCESS", "Field", "Register", "RegisterMap", "render_markdown"]

#: Register access kinds, with what the bank does (see :class:`~ganforge.rtl.bus.csr.AxiLiteCsr`).
ACCESS = {
    "ro": "read-only: reads return the block's value",
    "rw": "read-write: storage with a reset value; writes honour the byte strobes",
    "wo": "write-only: a write sets the value and pulses a one-cycle strobe; reads return 0",
}

_NAME = re.compile(r"[a-z_][a-z0-9_]*\Z")


def _check_name(what, name):
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"{what} name {name!r} is not a lower-case identifier")


@dataclass(frozen=True)
class Field:
    """A bit field of a register.

    Parameters
    ----------
    name : str
        Lower-case identifier, unique in its register.
    offset : int
        Lowest bit of the field in the register.
    width : int
        Bits of the field (at least 1).
    signed : bool
        Two's complement: the codecs take and give negative values.
    doc : str
        One line: what the field holds.
    values : dict of str to int, optional
        Named values (an enumeration), e.g. ``{"bypass": 0, "fp": 1, "ep": 2}``;
        the codecs accept a name wherever a number is accepted.
    access : str, optional
        ``None`` (the default) takes the register's; anything else must equal it.
    """
    name: str
    offset: int
    width: int = 1
    signed: bool = False
    doc: str = ""
    values: tuple = ()
    access: str = None

    def __post_init__(self):
        _check_name("field", self.name)
        if isinstance(self.values, dict):
            object.__setattr__(self, "values", tuple(self.values.items()))

    @property
    def shape(self):
        """The field's Amaranth shape."""
        return signed(self.width) if self.signed else unsigned(self.width)

    @property
    def min(self):
        return -(1 << (self.width - 1)) if self.signed else 0

    @property
    def max(self):
        return (1 << (self.width - 1)) - 1 if self.signed else (1 << self.width) - 1

    @property
    def bits(self):
        """The ``[hi:lo]`` notation of the field's bits."""
        hi = self.offset + self.width - 1
        return f"[{hi}]" if hi == self.offset else f"[{hi}:{self.offset}]"


@dataclass(frozen=True)
class Register:
    """One register of a :class:`RegisterMap`.

    Parameters
    ----------
    name : str
        Lower-case identifier, unique in the map; also the bank's port name.
    addr : int
        Byte address of the (low) word, a multiple of 4.
    access : str
        ``"ro"``, ``"rw"`` or ``"wo"`` (:data:`ACCESS`).
    width : int
        1 to 64 bits (``wo``: 1 to 32). Over 32 bits takes two words, low first.
    reset : int
        Value after reset (``rw`` only); no bit outside the fields.
    doc : str
        One line: what the register is for.
    fields : sequence of Field
        Bit fields; none means one field ``value`` over the whole width.
    """
    name: str
    addr: int
    access: str = "ro"
    width: int = 32
    reset: int = 0
    doc: str = ""
    fields: tuple = ()

    def __post_init__(self):
        _check_name("register", self.name)
        where = f"register {self.name}"
        if self.access not in ACCESS:
            raise ValueError(f"{where}: access must be one of {', '.join(ACCESS)}, got {self.access!r}")
        top = 32 if self.access == "wo" else 64
        if not isinstance(self.width, int) or not 1 <= self.width <= top:
            raise ValueError(f"{where}: width must be 1 to {top} bits for {self.access}, got {self.width}")
        if not isinstance(self.addr, int) or self.addr < 0 or self.addr % 4:
            raise ValueError(f"{where}: address {self.addr!r} is not a non-negative multiple of 4")
        fields = tuple(self.fields) or (Field("value", 0, self.width, doc=self.doc),)
        bound, names, owner = [], set(), {}
        for f in fields:
            if not isinstance(f, Field):
                raise ValueError(f"{where}: {f!r} is not a Field")
            fw = f"{where} field {f.name}"
            if f.name in names:
                raise ValueError(f"{fw}: the name is used twice")
            names.add(f.name)
            if f.access not in (None, self.access):
                raise ValueError(f"{fw}: access {f.access!r} differs from the register's "
                                 f"{self.access!r} (the bank accesses whole registers)")
            if not isinstance(f.width, int) or f.width < 1 or not isinstance(f.offset, int) or f.offset < 0:
                raise ValueError(f"{fw}: offset {f.offset!r} and width {f.width!r} must be integers, "
                                 f"offset >= 0 and width >= 1")
            if f.offset + f.width > self.width:
                raise ValueError(f"{fw}: bits {f.bits} do not fit the {self.width}-bit register")
            for bit in range(f.offset, f.offset + f.width):
                if bit in owner:
                    raise ValueError(f"{fw}: bit {bit} overlaps field {owner[bit]}")
                owner[bit] = f.name
            for vname, v in f.values:
                _check_name(f"{fw}: value", vname)
                if not f.min <= v <= f.max:
                    raise ValueError(f"{fw}: named value {vname} = {v} does not fit {f.width} bits")
            bound.append(replace(f, access=self.access))
        object.__setattr__(self, "fields", tuple(bound))
        if self.reset and self.access != "rw":
            raise ValueError(f"{where}: only an rw register has a reset value, got {self.reset:#x}")
        if not 0 <= self.reset < 1 << self.width:
            raise ValueError(f"{where}: reset {self.reset:#x} does not fit {self.width} bits")
        if self.reset & ~sum(((1 << f.width) - 1) << f.offset for f in self.fields):
            raise ValueError(f"{where}: reset {self.reset:#x} sets bits outside the fields")

    @property
    def declared(self):
        """False for a register described without fields (its one field ``value``)."""
        f = self.fields
        return not (len(f) == 1 and f[0].name == "value" and f[0].width == self.width and not f[0].signed)

    @property
    def words(self):
        """32-bit words the register takes (1 or 2)."""
        return (self.width + 31) // 32

    def field(self, name):
        """The field called ``name`` (``ValueError`` naming the register if there is none)."""
        for f in self.fields:
            if f.name == name:
                return f
        raise ValueError(f"register {self.name} has no field {name!r} "
                         f"(fields: {', '.join(f.name for f in self.fields)})")

    def shape(self):
        """The bank port's shape: ``unsigned(width)``, or a ``data.FlexibleLayout`` of the
        declared fields (reserved bits stay in the port, outside every field)."""
        if not self.declared:
            return unsigned(self.width)
        return data.FlexibleLayout(self.width, {f.name: data.Field(f.shape, f.offset) for f in self.fields})

    def init(self):
        """The port's reset value, in the form :meth:`shape` takes."""
        if not self.declared:
            return self.reset
        out = {}
        for f in self.fields:
            v = (self.reset >> f.offset) & ((1 << f.width) - 1)
            out[f.name] = v - (1 << f.width) if f.signed and v >> (f.width - 1) else v
        return out


class RegisterMap:
    """The registers of one block, checked for names, addresses and overlaps.

    Parameters
    ----------
    name : str
        The block (a title for the documentation).
    registers : sequence of Register
    addr_width : int
        Bits of the byte address space (at least 3: two words).
    doc : str
        A paragraph for the documentation.

    ``map[name]`` is a register; iterating gives them in address order.
    """

    def __init__(self, name, registers, *, addr_width=12, doc=""):
        if not isinstance(addr_width, int) or not 3 <= addr_width <= 32:
            raise ValueError(f"register map {name}: addr_width must be 3 to 32, got {addr_width!r}")
        self.name, self.addr_width, self.doc = name, addr_width, doc
        by_name, by_word = {}, {}
        for r in registers:
            if not isinstance(r, Register):
                raise ValueError(f"register map {name}: {r!r} is not a Register")
            if r.name in by_name:
                raise ValueError(f"register map {name}: register {r.name} is defined twice")
            if r.addr + 4 * r.words > 1 << addr_width:
                raise ValueError(f"register {r.name}: address {r.addr:#x} is outside the "
                                 f"{addr_width}-bit space of map {name}")
            for w in range(r.words):
                word = r.addr // 4 + w
                if word in by_word:
                    raise ValueError(f"register {r.name} overlaps {by_word[word]} at {4 * word:#x}")
                by_word[word] = r.name
            by_name[r.name] = r
        self._regs = dict(sorted(by_name.items(), key=lambda kv: kv[1].addr))

    def __getitem__(self, name):
        try:
            return self._regs[name]
        except KeyError:
            raise KeyError(f"register map {self.name} has no register {name!r}") from None

    def __contains__(self, name):
        return name in self._regs

    def __iter__(self):
        return iter(self._regs.values())

    def __len__(self):
        return len(self._regs)

    def at(self, addr):
        """The register holding byte address ``addr`` (its low or high word), or None."""
        for r in self:
            if r.addr <= addr < r.addr + 4 * r.words:
                return r
        return None


def render_markdown(regmap, *, level=2):
    """The map as Markdown: a summary table of the registers, then the bit fields of each
    register that declares fields (the others hold one value over their width)."""
    h = "#" * level
    out = [f"{h} {regmap.name}", ""]
    if regmap.doc:
        out += [regmap.doc, ""]
    out += ["| address | register | access | width | reset | what it holds |",
            "|---|---|---|---|---|---|"]
    for r in regmap:
        addr = f"{r.addr:#05x}" + (f"/{r.addr + 4:#05x}" if r.words == 2 else "")
        name = f"[`{r.name.upper()}`](#{r.name})" if r.declared else f"`{r.name.upper()}`"
        out.append(f"| {addr} | {name} | {r.access} | {r.width} | {r.reset:#x} | {r.doc} |")
    for r in regmap:
        if not r.declared:
            continue
        out += ["", f'<a id="{r.name}"></a>', "", f"{h}# `{r.name.upper()}` ({r.addr:#05x}, {r.access})",
                "", "| bits | field | signed | what it holds |", "|---|---|---|---|"]
        for f in sorted(r.fields, key=lambda f: -f.offset):
            doc = f.doc
            if f.values:
                doc += (" " if doc else "") + "(" + ", ".join(f"{v}: `{n}`" for n, v in f.values) + ")"
            out.append(f"| {f.bits} | `{f.name}` | {'yes' if f.signed else 'no'} | {doc} |")
    return "\n".join(out) + "\n"
