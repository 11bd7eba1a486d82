"""The folder map and the dependency rules between folders, defined once.

The top-level folders of the repository are the architecture (see
docs/architecture.md). Each is mapped into the one package ``ganforge``
(``pyproject.toml``: ``package-dir``), and each subfolder of ``rtl/`` and
``firmware/`` is a block of the block diagram. :data:`ALLOWED` says which
block may import which; :func:`check` reads every Python file of a tree, its
lazy imports inside functions included, and reports:

* an import that :data:`ALLOWED` does not permit (for example ``rtl/`` or
  ``firmware/`` importing ``testbench/``);
* a circle between blocks (``a`` imports ``b`` imports ... ``a``), even when
  each edge alone is permitted;
* a file in a folder the map does not know.

``tests/test_layout.py`` runs it on the repository and on a copy with a
planted bad import, so the rules are enforced and the check can fail.
:func:`rules_table` renders the rules as the Markdown table of
docs/architecture.md, which a test keeps in step.
"""

import ast
from pathlib import Path

__all__ = ["FOLDERS", "BLOCKS", "ALLOWED", "block_of", "imports_of", "check", "rules_table"]

#: Top-level folder -> the package it is mapped to.
FOLDERS = {
    "ganforge": "ganforge",
    "golden": "ganforge.golden",
    "rtl": "ganforge.rtl",
    "testbench": "ganforge.testbench",
    "firmware": "ganforge.firmware",
}

#: Each block: the module prefix that defines it, and what it holds. The longest prefix wins.
BLOCKS = {
    "golden": ("ganforge.golden", "the NumPy golden model: the arithmetic contract and training"),
    "rtl": ("ganforge.rtl", "helpers shared by every block (Verilog export, refusals)"),
    "rtl.core": ("ganforge.rtl.core", "the sparse core: descriptors, lanes, output stage"),
    "rtl.eors": ("ganforge.rtl.eors", "EORS arithmetic, speculation unit, pipeline"),
    "rtl.bus": ("ganforge.rtl.bus", "AXI, CSR bank and register maps, DMA, stream adapters"),
    "rtl.rolin": ("ganforge.rtl.rolin", "ROLIN statistics, parameter and normalise units, engine"),
    "rtl.cluster": ("ganforge.rtl.cluster", "clusters of cores and their interconnect"),
    "rtl.control": ("ganforge.rtl.control", "the command processor and its instruction set"),
    "rtl.top": ("ganforge.rtl.top", "top levels that put blocks together"),
    "firmware": ("ganforge.firmware", "drivers and register codecs"),
    "firmware.compiler": ("ganforge.firmware.compiler", "ops to core programs, their encoding"),
    "firmware.schedule": ("ganforge.firmware.schedule", "schedules of training steps: the accelerator as the training's device"),
    "firmware.runtime": ("ganforge.firmware.runtime", "the host's sequencing over a bus interface"),
    "testbench": ("ganforge.testbench", "cocotb benches, bus and memory models, the runner"),
    "ganforge": ("ganforge", "CLI, configuration, benches, demo"),
}

_RTL = {"rtl", "rtl.core", "rtl.eors", "rtl.bus", "rtl.rolin", "rtl.cluster", "rtl.control", "rtl.top"}
_FIRMWARE = {"firmware", "firmware.compiler", "firmware.schedule", "firmware.runtime"}

#: block -> the blocks it may import (besides itself). Anything outside ``ganforge`` is free.
ALLOWED = {
    "golden": set(),
    "rtl": {"golden"},
    "rtl.core": {"rtl", "golden"},
    "rtl.eors": {"rtl", "rtl.core", "golden"},
    "rtl.bus": {"rtl", "rtl.core", "golden"},
    "rtl.rolin": {"rtl", "rtl.core", "rtl.bus", "golden"},
    "rtl.cluster": {"rtl", "rtl.core", "rtl.eors", "rtl.bus", "rtl.rolin", "golden"},
    "rtl.control": {"rtl", "rtl.core", "rtl.bus", "rtl.cluster", "golden"},
    "rtl.top": _RTL - {"rtl.top"} | {"golden"},
    "firmware": _RTL | {"golden"},
    "firmware.compiler": _RTL | {"golden", "firmware"},
    "firmware.runtime": _RTL | {"golden", "firmware", "firmware.compiler"},
    "firmware.schedule": _RTL | {"golden", "firmware", "firmware.compiler", "firmware.runtime"},
    "testbench": _RTL | _FIRMWARE | {"golden", "ganforge"},
    "ganforge": _RTL | _FIRMWARE | {"golden", "testbench"},
}


def block_of(module):
    """The block a dotted module name belongs to (None outside ``ganforge``)."""
    best = None
    for block, (prefix, _) in BLOCKS.items():
        if module == prefix or module.startswith(prefix + "."):
            if best is None or len(prefix) > len(BLOCKS[best][0]):
                best = block
    return best


def _module_name(root, path):
    rel = path.relative_to(root)
    folder = rel.parts[0]
    if folder not in FOLDERS:
        return None
    parts = FOLDERS[folder].split(".") + list(rel.parts[1:])
    parts[-1] = parts[-1][:-3]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(root, path):
    """``(line, module)`` of every ``ganforge`` import in ``path``, relative ones resolved,
    imports inside functions included."""
    module = _module_name(root, path)
    is_pkg = path.name == "__init__.py"
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[:len(base) - node.level + (1 if is_pkg else 0)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            # ``from pkg import sub`` may name a submodule: count the deeper name when it is one.
            for a in node.names:
                sub = f"{target}.{a.name}"
                found.append((node.lineno, sub if _is_module(root, sub) else target))
    return [(line, name) for line, name in found if name.split(".")[0] == "ganforge"]


def _is_module(root, dotted):
    parts = dotted.split(".")
    for folder, package in FOLDERS.items():
        pp = package.split(".")
        if parts[:len(pp)] == pp:
            rel = Path(root, folder, *parts[len(pp):])
            if rel.with_suffix(".py").is_file() or (rel / "__init__.py").is_file():
                return True
    return False


def _sources(root):
    for folder in FOLDERS:
        yield from sorted(Path(root, folder).rglob("*.py"))


def check(root):
    """Every broken rule in the tree at ``root``, as lines ``path:line: message`` (empty: none)."""
    root = Path(root)
    problems = []
    edges = {}
    for path in _sources(root):
        module = _module_name(root, path)
        src = block_of(module)
        rel = path.relative_to(root)
        if src is None or src not in ALLOWED:
            problems.append(f"{rel}:1: {module} is in no block of ganforge.layout.BLOCKS")
            continue
        for line, target in imports_of(root, path):
            dst = block_of(target)
            if dst is None:
                problems.append(f"{rel}:{line}: import of {target}, which is in no block")
            elif dst != src:
                if dst not in ALLOWED[src]:
                    problems.append(f"{rel}:{line}: {src} must not import {dst} ({target})")
                edges.setdefault(src, {}).setdefault(dst, f"{rel}:{line}")
    problems += [f"{where}: import circle between blocks: {' -> '.join(cycle)}"
                 for cycle, where in _cycles(edges)]
    return problems


def _cycles(edges):
    """One representative circle per strongly connected group of blocks."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(_circle(edges, sorted(group)))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def _circle(edges, group):
    start = group[0]
    path, seen = [start], {start}
    while True:
        nxt = next(w for w in sorted(edges[path[-1]]) if w in group)
        if nxt in seen:
            path.append(nxt)
            i = path.index(nxt)
            cycle = path[i:]
            return cycle, edges[cycle[0]][cycle[1]]
        path.append(nxt)
        seen.add(nxt)


def rules_table():
    """The rules as a Markdown table: block, folder, what it holds, what it may import."""
    rows = ["| block | folder | holds | may import |", "|---|---|---|---|"]
    for block, (prefix, what) in BLOCKS.items():
        folder = block.replace(".", "/") if block != "ganforge" else "ganforge"
        may = ", ".join(f"`{b}`" for b in sorted(ALLOWED[block])) or "nothing of ganforge"
        rows.append(f"| `{block}` | `{folder}/` | {what} | {may} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":                       # pragma: no cover - a reader's convenience
    import sys
    found = check(Path(__file__).resolve().parents[1])
    print("\n".join(found) or "layout: no rule broken")
    sys.exit(1 if found else 0)
