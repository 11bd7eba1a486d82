"""The package's cocotb benches: what each one builds and what it passes to its cocotb module.

Each function builds a design, packs its arguments and runs it through the
one runner, :func:`~ganforge.testbench.runner.run_bench`, which returns the
JSON result the cocotb module wrote:

* :func:`simulate_program`: a firmware
  :class:`~ganforge.firmware.compiler.program.Program` on a
  :class:`~ganforge.rtl.core.SparseCore` (or an
  :class:`~ganforge.rtl.eors.EorsUnit`) (``tb_core.py``);
* :func:`simulate_pipeline`: EORS overlapped with the core on an
  :class:`~ganforge.rtl.eors.pipeline.EorsPipeline` (``tb_eors_pipeline.py``);
* :func:`run_accel_chain`: conv → IN → ReLU → conv on the
  :class:`~ganforge.rtl.top.accelerator.Accelerator` (``tb_accel.py``);
* :func:`run_rolin_flow`: the i2i generator's FP and EP through the
  :class:`~ganforge.rtl.rolin.engine.RolinEngine` (``tb_rolin.py``);
* :func:`run_system_layers`: layer programs on the whole
  :class:`~ganforge.rtl.top.system.System` (``tb_system.py``);
* :func:`run_train_steps`: DCGAN training steps with every layer op on the System,
  checked against the golden training (``tb_train.py``);
* :func:`run_retrain_steps`: retraining steps of a pretrained translator with frozen
  layers (SELRET's), every convolution's op on the System (``tb_train.py``).

``throttle`` drops ``valid``/``ready`` at random on every stream; benchmarks
run with it off.
"""

import os

from ganforge.firmware.compiler.check import check_program
from ganforge.firmware.compiler.encode import pack_program, unpack_drained
from ganforge.rtl.core import SparseCore
from ganforge.rtl.export import to_verilog
from ganforge.testbench.runner import run_bench

__all__ = ["run_retrain_steps", "simulate_program", "run_core_faults", "simulate_pipeline", "run_accel_chain", "run_rolin_flow",
           "run_system_layers", "run_train_steps", "FULL_CUT"]

#: T2's input channels, the IN's channels, T3's output channels, T2's input size: whole layers.
FULL_CUT = (16, 32, 32, 16)

#: Designs and their Verilog per configuration, kept for the process: converting a 16-lane
#: core takes longer than simulating most layers.
_DESIGNS = {}


def _design(key, build, toplevel):
    if key not in _DESIGNS:
        top = build()
        _DESIGNS[key] = top, to_verilog(top, toplevel)
    return _DESIGNS[key]


def _throttle(throttle, n_words):
    """The stream throttling arguments, and the run's cycle budget: the most cycles the
    output stream may stay silent, generous for any program of ``n_words`` stream words
    (throttled or not), so a core that stops answering ends the run with an error."""
    return dict(idle=0.25 if throttle else 0.0, stall=0.25 if throttle else 0.0,
                timeout_cycles=10000 + 40 * n_words)


def simulate_program(prog, core_kwargs, *, sim="verilator", throttle=True, seed=0, waves=None,
                     build_root="build/sim", quiet=False, component=SparseCore):
    """Run ``prog`` on ``component(**core_kwargs)``; return ``(drained, counters, cycles)``.

    ``component`` is :class:`SparseCore` or a component with its ports, such as
    :class:`~ganforge.rtl.eors.EorsUnit`. ``drained`` is, for every pass that drains,
    its output beats, each a list of ``(value, mask)`` per lane, as
    :meth:`Program.assemble` takes them; ``counters`` the core's counters and ``error``;
    ``cycles`` the core's busy plus idle cycles since reset. A pass the core would refuse
    raises ``ValueError`` before anything runs (:func:`~ganforge.firmware.compiler.check_program`).
    """
    check_program(prog, core_kwargs)        # a refused pass would never drain: refuse it here
    core, verilog = _design((component.__name__, *sorted(core_kwargs.items())),
                            lambda: component(**core_kwargs), "sparse_core")
    cmd, x, drains = pack_program(core, prog)
    args = {"cmd": cmd, "x": x, "words": sum(drains), "seed": seed,
            **_throttle(throttle, len(cmd) + 30 * len(x) + sum(drains))}
    res = run_bench(core, "sparse_core", "ganforge.testbench.tb_core", args, sim=sim,
                    build_root=build_root, waves=waves, quiet=quiet, verilog=verilog)
    return unpack_drained(core, res["words"], drains), res["counters"], res["cycles"]


def run_core_faults(prog, faults, core_kwargs, *, resets=(), sim="verilator", seed=0,
                    build_root="build/sim", quiet=True, component=SparseCore):
    """Faults on the generated core (``testbench/tb_core_faults.py``): ``prog`` runs once,
    then after each bad pass of ``faults`` (``[(name, (cmd, x), code)]``: command and input
    beats as port integers, and the error code the core must report) and after each reset
    at a cycle of ``resets``. ``component``: the SparseCore, or one with its ports (the
    EorsUnit). Returns ``(drained, result)``: ``prog``'s drained beats (every run's were
    equal) and the bench's JSON."""
    core, verilog = _design((component.__name__, *sorted(core_kwargs.items())),
                            lambda: component(**core_kwargs), "sparse_core")
    cmd, x, drains = pack_program(core, prog)
    args = {"good": {"cmd": cmd, "x": x, "words": sum(drains)},
            "faults": [{"name": n, "cmd": c, "x": b, "code": int(code)} for n, (c, b), code in faults],
            "resets": [int(r) for r in resets], "seed": seed,
            "timeout_cycles": _throttle(True, len(cmd) + 30 * len(x) + sum(drains))["timeout_cycles"]}
    res = run_bench(core, "sparse_core", "ganforge.testbench.tb_core_faults", args, sim=sim,
                    build_root=build_root, quiet=quiet, verilog=verilog)
    return unpack_drained(core, res["reference"], drains), res


def simulate_pipeline(unit_progs, core_progs, unit_kwargs, core_kwargs, *, sim="verilator",
                      throttle=False, seed=0, waves=None, build_root="build/sim", quiet=True,
                      resets=()):
    """Run EORS overlapped with the core on an :class:`~ganforge.rtl.eors.pipeline.EorsPipeline`:
    ``unit_progs[t]`` and ``core_progs[t]`` are tile ``t``'s speculation passes and the core's
    passes with that tile's prediction as mask (``testbench/tb_eors_pipeline.py`` plays the
    schedule). Returns ``(unit_drained, core_drained, result)``: per tile, the drained beats
    of each program, and the JSON result (``cycles``, ``core_start`` per tile, ``core`` and
    ``unit`` counters). ``resets``: cycles at which the bench, after that first run,
    restarts the programs and asserts the top's ``rst`` mid-run; the run after each must
    give the same words (``resets`` in the result: per reset, the cycle and whether the
    unit and the core were busy).
    """
    from ganforge.rtl.eors.pipeline import EorsPipeline
    key = ("EorsPipeline", *sorted(core_kwargs.items()), *sorted(unit_kwargs.items()))
    top, verilog = _design(key, lambda: EorsPipeline(core=core_kwargs, unit=unit_kwargs),
                           "eors_pipeline")
    tiles = {"unit": [], "core": []}
    drains = {"unit": [], "core": []}
    for name, dut, progs in (("unit", top.unit, unit_progs), ("core", top.core, core_progs)):
        for prog in progs:
            cmd, x, d = pack_program(dut, prog)
            tiles[name].append({"cmd": cmd, "x": x, "words": sum(d)})
            drains[name].append(d)
    n_words = sum(len(t["cmd"]) + 30 * len(t["x"]) + t["words"] for ts in tiles.values() for t in ts)
    args = dict(tiles, seed=seed, resets=[int(r) for r in resets], **_throttle(throttle, n_words))
    res = run_bench(top, "eors_pipeline", "ganforge.testbench.tb_eors_pipeline", args,
                    sim=sim, build_root=build_root, waves=waves, quiet=quiet, verilog=verilog)
    unit = [unpack_drained(top.unit, w, d) for w, d in zip(res["unit_words"], drains["unit"])]
    core = [unpack_drained(top.core, w, d) for w, d in zip(res["core_words"], drains["core"])]
    return unit, core, res


def run_accel_chain(sim="icarus", build_root="build/sim", *, samples=1, cut=FULL_CUT, ep=True,
                    throttle=0.3, lanes=4, axi_data_width=64, seed=1, quiet=True):
    """Run ``testbench/tb_accel.py`` (conv → IN → ReLU → conv, FP and, with ``ep``, EP) on an
    Accelerator of ``lanes`` core lanes; the layers cut to ``cut`` (see :data:`FULL_CUT`).
    Returns the bench's result: ``cycles`` per layer, ``macs_issued``, ``rd_bytes`` and
    ``wr_bytes``."""
    from ganforge.rtl.top.accelerator import Accelerator
    fifo_depth = 64
    core = dict(lanes=lanes, weight_depth=512, out_depth=256, fifo_depth=8)
    engine = dict(axi_data_width=axi_data_width, fifo_depth=fifo_depth, table_depth=512, max_channels=32)
    dut = Accelerator(core=core, engine=engine, max_positions=256)
    args = {"samples": samples, "cut": list(cut), "ep": ep, "throttle": throttle, "seed": seed,
            "mem_size": 1 << 20, "axi_data_width": axi_data_width, "fifo_depth": fifo_depth,
            "core": core}
    return run_bench(dut, "accelerator", "ganforge.testbench.tb_accel", args, sim=sim,
                     build_root=build_root, quiet=quiet)


def run_rolin_flow(sim="icarus", build_root="build/sim", *, samples, modes=("on", "off"),
                   throttle=0.3, axi_data_width=64, seed=1, quiet=True, verbose=False,
                   log_file=None):
    """Run ``testbench/tb_rolin.py`` (the i2i generator's FP and EP, ROLIN in each of
    ``modes``) on a RolinEngine; returns the DMA's counters per phase and mode
    (``fp_on``, ``ep_on``, ...). ``verbose``: the bench logs ``progress:`` lines (to
    ``log_file`` when ``quiet``)."""
    from ganforge.rtl.rolin.engine import RolinEngine
    fifo_depth = 64
    dut = RolinEngine(axi_data_width=axi_data_width, fifo_depth=fifo_depth, table_depth=2048)
    args = {"samples": samples, "modes": list(modes), "throttle": throttle, "seed": seed,
            "mem_size": 1 << 22, "axi_data_width": axi_data_width, "fifo_depth": fifo_depth,
            "verbose": verbose}
    return run_bench(dut, "rolin_engine", "ganforge.testbench.tb_rolin", args, sim=sim,
                     build_root=build_root, quiet=quiet, log_file=log_file)


def _system_design(system):
    from ganforge.rtl.top.system import System
    return _design(("System", repr(sorted(system.items()))), lambda: System(**system),
                   "ganforge_system")


def run_system_layers(layers, system, *, sim="icarus", throttle=0.3, seed=1,
                      build_root="build/sim", quiet=True, mem_size=1 << 21, cycles=2_000_000,
                      budget=20_000, memory="model", rate=(1, 1), latency=1, resets=(),
                      aborts=()):
    """Run ``testbench/tb_system.py`` on ``System(**system)`` (the keyword arguments, e.g.
    :func:`~ganforge.config.system_from_config`'s): ``layers`` (specs ``{"layer": "T3", "samples", "cin", "cout", "hw", "group",
    "mode"}``, cuts of the i2i generator's layers) compiled into one program, every AXI
    channel paused with probability ``throttle``, the outputs and the cores' MACs checked
    against the golden model. ``cycles``: the most cycles to wait for the interrupt;
    ``budget``: the command processor's no-progress budget. Returns the bench's result:
    ``cycles`` (from GO to the interrupt), ``counters`` (by name), ``retired`` and ``layers``
    (per layer ``out_shape`` and ``in_bytes``). ``memory``, ``rate``, ``latency``: as
    :func:`run_train_steps` (``"model"``, throttled, by default). ``resets``: cycles after
    GO at which a second run of the program is reset (the model memory only), each followed
    by a bit-exact run (``resets`` in the result: the cycle, and whether the processor was
    busy). ``aborts``: the same with ``CTRL.abort`` instead of the reset (``aborts`` in the
    result)."""
    dut, toplevel, verilog = _system_top(system, memory, mem_size)
    args = {"system": system, "layers": [dict(L) for L in layers], "throttle": throttle,
            "seed": seed, "mem_size": mem_size, "cycles": cycles, "budget": budget,
            "rate": list(rate), "latency": latency, "resets": [int(r) for r in resets],
            "aborts": [int(a) for a in aborts]}
    return run_bench(dut, toplevel, "ganforge.testbench.tb_system", args, sim=sim,
                     build_root=build_root, quiet=quiet, verilog=verilog)


def _system_top(system, memory, mem_size):
    """``(component, toplevel, verilog)`` of ``System(**system)``: with the memory inside
    (``memory="rtl"``: SimSystem) or on its AXI port for cocotbext-axi (``"model"``)."""
    if memory == "model":
        dut, verilog = _system_design(system)
        return dut, "ganforge_system", verilog
    if memory != "rtl":
        raise ValueError(f"memory must be 'rtl' or 'model', got {memory!r}")
    from ganforge.testbench.sim_system import SIM_RAM_VERILOG, SimSystem
    toplevel = "ganforge_sim_system"
    dut, verilog = _design(("SimSystem", repr(sorted(system.items())), mem_size),
                           lambda: SimSystem(system, mem_size=mem_size), toplevel)
    return dut, toplevel, verilog + "\n" + SIM_RAM_VERILOG


def run_train_steps(system, *, steps=2, batch=2, seed=0, mode="multicast", sim="verilator",
                    memory="rtl", rate=(1, 1), latency=1, throttle=0.0, build_root="build/sim",
                    quiet=True, mem_size=1 << 22, cycles=4_000_000, log_file=None):
    """Run ``testbench/tb_train.py``: ``steps`` DCGAN training steps of ``batch`` samples
    (:func:`~ganforge.golden.train_dcgan`, seed ``seed``) with every layer op a program on
    ``System(**system)``, the parameters then compared with the golden training's.

    ``memory``: ``"rtl"`` (:class:`~ganforge.testbench.sim_system.SimSystem`: the memory
    inside the design, ``rate`` beats a cycle as ``(num, den)``, ``latency`` cycles; fast)
    or ``"model"`` (cocotbext-axi's AxiRam, each channel paused with probability
    ``throttle``; a Python call each beat). Returns the bench's result: ``programs`` (per
    program: layer, phase, op, cycles, counters), ``traffic`` (what the host moved),
    ``steps``, ``batch``, ``equal``."""
    dut, toplevel, verilog = _system_top(system, memory, mem_size)
    args = {"system": system, "steps": steps, "batch": batch, "seed": seed, "mode": mode,
            "throttle": throttle, "mem_size": mem_size, "cycles": cycles, "rate": list(rate),
            "latency": latency}
    return run_bench(dut, toplevel, "ganforge.testbench.tb_train", args, sim=sim,
                     build_root=build_root, quiet=quiet, verilog=verilog, log_file=log_file,
                     testcase="dcgan_steps")


def run_retrain_steps(system, *, pretrained, pairs, trainable, steps=1, batch=2, seed=0, lr=1e-3,
                      mode="multicast", sim="verilator", build_root="build/sim", quiet=True,
                      mem_size=1 << 22, cycles=4_000_000, log_file=None):
    """Run ``testbench/tb_train.py: retrain_steps``: ``steps`` retraining steps
    (:func:`~ganforge.golden.retrain.retrain`) of the device-mode network pickled at
    ``pretrained`` on the pairs in the .npz ``pairs`` (``src``, ``clean``), with the
    ``trainable`` layers, every convolution's op a program on ``System(**system)`` (memory
    inside the design, full rate); the parameters are then compared with the golden
    retraining's. Returns the bench's result (``programs``, ``traffic``, ``equal``)."""
    dut, toplevel, verilog = _system_top(system, "rtl", mem_size)
    args = {"system": system, "pretrained": os.path.abspath(pretrained), "pairs": os.path.abspath(pairs),
            "trainable": list(trainable), "steps": steps, "batch": batch, "seed": seed,
            "lr": lr, "mode": mode, "throttle": 0.0, "mem_size": mem_size, "cycles": cycles}
    return run_bench(dut, toplevel, "ganforge.testbench.tb_train", args, sim=sim,
                     build_root=build_root, quiet=quiet, verilog=verilog, log_file=log_file,
                     testcase="retrain_steps")
