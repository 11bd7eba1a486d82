"""The subcommands of ``ganforge``: each is its options and a handler, registered with
:func:`ganforge.cli.command`. Handlers parse nothing themselves and import the library
they call lazily, so ``ganforge --help`` stays fast.

=============  ==========================================================================
command        library
=============  ==========================================================================
config         :mod:`ganforge.config`
demo           :mod:`ganforge.demo` (needs the ``train`` extra)
workloads      :mod:`ganforge.demo` (needs the ``train`` extra)
verilog        :mod:`ganforge.tops`
area           :mod:`ganforge.area`, :mod:`ganforge.tops` (needs the ``synth`` extra)
sim-op         :mod:`ganforge.simop` (needs the ``sim`` extra)
train          :mod:`ganforge.bench.system` (needs the ``sim`` and ``train`` extras)
=============  ==========================================================================
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path

from ganforge.cli import PROG, command, comma_list, module_name, nonneg_int, positive_int, top_name
from ganforge.errors import RunError, UserError
from ganforge.outputs import save_npz, writable_file

__all__ = ["run_sim_op", "run_verilog", "run_area_command", "run_train"]


# --- options shared by several commands ----------------------------------------

def _config_option(parser: argparse.ArgumentParser, what: str = "configuration preset") -> None:
    from ganforge.config import DEFAULT_PRESET
    parser.add_argument("--config", metavar="NAME", default=DEFAULT_PRESET,
                        help=f"{what} (default: {DEFAULT_PRESET}; `ganforge config --list`)")


def _eors_override_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--eors-mantissa-bits", metavar="M", type=int, default=None,
                        help="override the configuration's eors_extra_mantissa_bits")
    parser.add_argument("--eors-acc-width", metavar="BITS", type=int, default=None,
                        help="override the configuration's eors_acc_width")


def _configured(args: argparse.Namespace):
    """The preset ``args.config`` with the ``--eors-*`` overrides; UserError (naming the
    parameter) for an unknown preset or an illegal value."""
    import dataclasses
    from ganforge.config import get_preset
    config = get_preset(args.config)
    over = {k: v for k, v in (("eors_extra_mantissa_bits", args.eors_mantissa_bits),
                             ("eors_acc_width", args.eors_acc_width)) if v is not None}
    return dataclasses.replace(config, **over) if over else config


def _note(message: str) -> None:
    print(f"{PROG}: note: {message}", file=sys.stderr)


def _tops_help() -> str:
    from ganforge.tops import TOPS
    return "; ".join(f"{name}: {top.summary}" for name, top in TOPS.items())


# --- ganforge config -----------------------------------------------------------

def _config_arguments(parser: argparse.ArgumentParser) -> None:
    _config_option(parser, "configuration preset to describe")
    parser.add_argument("--list", action="store_true", help="list the presets and exit")


@command("config", "describe an accelerator configuration preset, or list them",
         arguments=_config_arguments)
def _cmd_config(args: argparse.Namespace) -> int:
    from ganforge.config import DEFAULT_PRESET, PRESETS, get_preset
    if args.list:
        width = max(map(len, PRESETS))
        for name, cfg in PRESETS.items():
            default = " (default)" if name == DEFAULT_PRESET else ""
            print(f"{name:<{width}}  {cfg.clusters} cluster(s) x {cfg.cores_per_cluster} core(s) "
                  f"x {cfg.lanes_per_core} lanes, {cfg.data_width}-bit{default}")
        return 0
    print(get_preset(args.config).describe(args.config))
    return 0


# --- ganforge demo -------------------------------------------------------------

def _demo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", metavar="DIR", default="build/demo",
                        help="output directory (default: build/demo)")
    parser.add_argument("--iterations", metavar="N", type=positive_int, default=None,
                        help="training iterations (default: 1500; 60 with --quick)")
    parser.add_argument("--seed", metavar="S", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--no-float", action="store_true",
                        help="skip the float-trained reference (no fixed/float score ratio)")
    parser.add_argument("--quick", action="store_true",
                        help="a short run, for smoke tests (the score is then meaningless)")


@command("demo", "train the reference DCGAN on digits in fixed point",
         arguments=_demo_arguments, needs=("sklearn",),
         description="Train the reference DCGAN on scikit-learn's digits in the accelerator's "
                     "fixed-point arithmetic (and in float, for reference); write samples.png, "
                     "the quality score and the per-layer FP/EP sparsity to --out.")
def _cmd_demo(args: argparse.Namespace) -> int | None:
    from ganforge.demo import run_demo
    return run_demo(args)


# --- ganforge workloads --------------------------------------------------------

def _workloads_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", metavar="DIR", default=None,
                        help="output directory (default: the package's golden/workloads/)")
    parser.add_argument("--dcgan-iterations", metavar="N", type=positive_int, default=1500)
    parser.add_argument("--i2i-iterations", metavar="N", type=positive_int, default=600)
    parser.add_argument("--show", metavar="NAME", default=None,
                        help="print the layers of a saved workload (dcgan, i2i or a path) and exit")


@command("workloads", "train the reference GANs and save their layers for the RTL",
         arguments=_workloads_arguments,
         description="Train the DCGAN and the image-to-image generator in fixed point and save "
                     "one captured training step per network (weights, FP inputs, EP errors, "
                     "ReLU masks) as dcgan.npz and i2i.npz; --show prints a saved one.")
def _cmd_workloads(args: argparse.Namespace) -> int | None:
    from ganforge.demo import run_workloads, show_workload
    if args.show:
        return show_workload(args.show)
    import importlib.util
    if importlib.util.find_spec("sklearn") is None:      # training needs it, --show does not
        from ganforge.errors import MissingExtra
        raise MissingExtra("workloads", "sklearn")
    return run_workloads(args)


# --- ganforge verilog ----------------------------------------------------------

def _verilog_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--top", metavar="NAME", type=top_name, default="core",
                        help=f"the block to write (default: core). {_tops_help()}")
    _config_option(parser)
    parser.add_argument("-o", "--output", metavar="FILE", required=True, help="Verilog file to write")
    parser.add_argument("--name", metavar="MODULE", type=module_name, default=None,
                        help="top module name (default: ganforge_TOP, '-' written '_')")
    _eors_override_options(parser)


@command("verilog", "write the Verilog of a top-level block of a preset (default: the core)",
         arguments=_verilog_arguments,
         description="Build one block of the ganforge.tops table (the sparse core, the EORS "
                     "unit or pipeline, the accelerator, or a leaf block) for a configuration "
                     "preset and write its Verilog.")
def run_verilog(args: argparse.Namespace) -> int:
    """``ganforge verilog``: build ``args.top`` for preset ``args.config`` and write it."""
    from ganforge import tops
    config = _configured(args)
    module = args.name or f"ganforge_{tops.module_name(args.top)}"
    built = tops.build(args.top, config, args.config)
    text = tops.write_verilog(built.component, module, args.output)
    if built.note:
        _note(f"{args.top} is {built.note}")
    print(f"wrote {args.output}: module {module}, {built.description} (preset {args.config}), "
          f"{len(text.splitlines())} lines")
    return 0


# --- ganforge area -------------------------------------------------------------

def _area_arguments(parser: argparse.ArgumentParser) -> None:
    from ganforge.area import DEFAULT_BUILD_DIR, TARGETS
    from ganforge.tops import AREA_DEFAULT
    parser.add_argument("--component", nargs="+", action="extend", metavar="NAME", type=top_name,
                        help=f"blocks to synthesise (default: {', '.join(AREA_DEFAULT)}). "
                             f"{_tops_help()}")
    _config_option(parser)
    parser.add_argument("--targets", type=comma_list(TARGETS, "target"), default=list(TARGETS),
                        metavar="LIST", help=f"comma-separated targets (default: {','.join(TARGETS)})")
    parser.add_argument("--json", type=Path, metavar="OUT.json",
                        help="write all numbers here (default: BUILD_DIR/area.json)")
    parser.add_argument("--build-dir", type=Path, default=DEFAULT_BUILD_DIR, metavar="DIR",
                        help=f"Verilog, Yosys logs and stat files (default: {DEFAULT_BUILD_DIR})")
    parser.add_argument("--jobs", "-j", type=positive_int, default=1, metavar="N",
                        help="Yosys runs in parallel (default: 1)")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress lines on stderr")
    _eors_override_options(parser)


@command("area", "synthesise blocks with Yosys and report their area",
         arguments=_area_arguments,
         description="Synthesise ganforge's blocks with Yosys and report their area (generic "
                     "cells; LUT/FF/DSP/BRAM for iCE40 and ECP5); write every number to "
                     "BUILD_DIR/area.json. See ganforge/area.py for the columns and the keys.")
def run_area_command(args: argparse.Namespace) -> int:
    """``ganforge area``: :func:`ganforge.area.run_area`, then the table on stdout."""
    import time
    from ganforge.area import display_path, format_extras, format_table, run_area

    def progress(message: str) -> None:
        if not args.quiet:
            print(f"{PROG} area: {message}", file=sys.stderr, flush=True)

    if args.json is not None:
        writable_file(args.json)             # before minutes of synthesis
    start = time.monotonic()
    report = run_area(_configured(args), args.config, args.component, args.targets,
                      build_dir=args.build_dir, json_path=args.json, jobs=args.jobs,
                      progress=progress)
    results = report["results"]
    print(f"area of ganforge components, preset '{args.config}', {report['yosys']}")
    print(format_table(results))
    extras = format_extras(results)
    if extras:
        print(extras)
    json_path = args.json or args.build_dir / "area.json"
    print(f"wrote {display_path(json_path)} ({len(results)} synthesis runs, "
          f"{time.monotonic() - start:.1f} s)")
    return 0


# --- ganforge sim-op -----------------------------------------------------------

def _simop_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", metavar="IN.npz", help="the op, its tensors and parameters")
    parser.add_argument("-o", "--output", metavar="OUT.npz", required=True)
    _config_option(parser)
    parser.add_argument("--sim", choices=("icarus", "verilator"), default="verilator")
    parser.add_argument("--dense", action="store_true",
                        help="every kind of skipping off: the baseline of every speedup")
    parser.add_argument("--vcd", metavar="FILE", default=None, help="write the waveform")
    parser.add_argument("--eors", action="store_true",
                        help="ReLU FP with EORS: the speculation unit, then the core with the "
                             "predicted zeros masked, and the core without EORS")
    parser.add_argument("--eors-margin", metavar="N", type=nonneg_int, default=0,
                        help="EORS margin in accumulator units (default: 0)")
    _eors_override_options(parser)
    parser.add_argument("--eors-pipelined", action="store_true",
                        help="with --eors: also run the unit and the core overlapped in one "
                             "simulation (EorsPipeline), one sample per tile")
    parser.add_argument("--eors-audit", action="store_true",
                        help="with --eors: also run the core audited (every tap computed) and "
                             "count false and missed zeros in its hardware counters")


@command("sim-op", "run one layer op on the simulated RTL core", arguments=_simop_arguments,
         needs=("cocotb",),
         description="Run one op (conv, conv_input_grad, conv_weight_grad, conv_transpose, "
                     "conv_transpose_input_grad, conv_transpose_weight_grad) from IN.npz on the "
                     "generated Verilog of the sparse core; write the result, the cycle count and "
                     "every counter to OUT.npz. See ganforge/simop.py for the keys.")
def run_sim_op(args: argparse.Namespace) -> int:
    """``ganforge sim-op``: :func:`ganforge.simop.simulate_op` (or, with ``--eors``,
    :func:`ganforge.simop.simulate_eors_op`) on ``args.input``; OUT.npz and one line."""
    from ganforge.simop import load_op, simulate_op
    from ganforge.testbench import require_simulator
    given = [flag for flag, on in (("--eors-audit", args.eors_audit),
                                   ("--eors-pipelined", args.eors_pipelined),
                                   ("--eors-margin", args.eors_margin != 0),
                                   ("--eors-mantissa-bits", args.eors_mantissa_bits is not None),
                                   ("--eors-acc-width", args.eors_acc_width is not None)) if on]
    if given and not args.eors:
        raise UserError(f"{given[0]} needs --eors")
    if args.eors and args.dense:
        raise UserError("--eors and --dense exclude each other")
    config = _configured(args)
    op, tensors, params = load_op(args.input)
    writable_file(args.output)
    if args.vcd:
        writable_file(args.vcd)
    try:
        require_simulator(args.sim)
    except RuntimeError as exc:
        raise UserError(str(exc))
    with _bench_errors():
        if args.eors:
            return _sim_op_eors(args, config, op, tensors, params)
        out = simulate_op(op, tensors, params, config, sim=args.sim, dense=args.dense,
                          vcd=os.path.abspath(args.vcd) if args.vcd else None)
    save_npz(args.output, out)
    print(f"{op} on {args.config} ({out['lanes']} lanes, {args.sim}{', dense' if args.dense else ''}): "
          f"{out['cycles']} cycles, {out['macs_issued']} MACs issued "
          f"(dense {out['dense_macs']}, effective {out['effective_macs']}, "
          f"ideal {out['ideal_cycles']:.0f} cycles); {_verdict(out)}")
    print(f"wrote {args.output}")
    return 0 if out["matches_golden"] and out["error"] == 0 else 1


def _sim_op_eors(args, config, op, tensors, params) -> int:
    from ganforge.simop import simulate_eors_op
    out = simulate_eors_op(op, tensors, params, config, margin=args.eors_margin, sim=args.sim,
                           audit=args.eors_audit, pipelined=args.eors_pipelined)
    save_npz(args.output, out)
    print(f"{op} with EORS on {args.config} ({out['lanes']} lanes, {args.sim}; mantissa bits "
          f"{out['eors_mantissa_bits']}, margin {out['eors_margin']}, accumulator "
          f"{out['eors_acc_width']} bits): predicted zero {out['eors_predicted_zero']}/"
          f"{out['eors_outputs']}, false zero {out['eors_false_zero']} (host, from the golden"
          + (f"; audited core counter {out['audit_false_zero']}, missed "
             f"{out['audit_missed_zero']}" if args.eors_audit else "") + "); "
          f"speculation {out['eors_cycles']} cycles, core with EORS {out['cycles']}, without "
          f"{out['cycles_no_eors']}; sequential {out['cycles_sequential']}, overlapped "
          f"(computed: max of the two) {out['cycles_overlapped_computed']}"
          + (f", pipelined (measured) {out['cycles_pipelined']}" if args.eors_pipelined else "")
          + f"; {_verdict(out)}")
    print(f"wrote {args.output}")
    ok = out["matches_golden"] and out["error"] == 0 and out["eors_error"] == 0
    return 0 if ok and out.get("audit_error", 0) == 0 else 1


def _verdict(out: dict) -> str:
    return "matches the golden model" if out["matches_golden"] else "MISMATCH with the golden model"


# --- ganforge train ------------------------------------------------------------

def _train_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--on", choices=("rtl",), required=True,
                        help="where the layer ops run: rtl, the simulated accelerator (the "
                             "golden training alone is `ganforge demo`)")
    parser.add_argument("--steps", metavar="N", type=positive_int, default=2)
    parser.add_argument("--batch", metavar="B", type=positive_int, default=1,
                        help="samples per step (D sees B real and B fake; default: 1)")
    _config_option(parser)
    parser.add_argument("--cores", metavar="N", type=positive_int, default=None,
                        help="override the preset's cores (one cluster of N)")
    parser.add_argument("--sim", choices=("verilator", "icarus"), default="verilator")
    parser.add_argument("--mode", choices=("multicast", "unicast"), default="multicast",
                        help="how a layer's inputs reach a group's cores (default: multicast)")
    parser.add_argument("--memory", choices=("rtl", "model"), default="rtl",
                        help="external memory: rtl, inside the simulated design (fast), or "
                             "model, cocotbext-axi's AxiRam (a Python call a beat)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-o", "--output", metavar="FILE", default="build/train/rtl.json",
                        help="the programs' cycles and counters, the summary and the host's "
                             "traffic (JSON; default: build/train/rtl.json)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


@command("train", "run DCGAN training steps with every layer op on the simulated accelerator",
         arguments=_train_arguments, needs=("cocotb", "sklearn"),
         description="Run the golden DCGAN training with every layer's FP, EP and WG as a "
                     "program on the whole accelerator's Verilog, then check every parameter "
                     "of G and D against the golden training, bit for bit. Prints the cycles "
                     "and bytes by phase and by layer beside their ideal, and what the host "
                     "moved; writes them to --output.")
def run_train(args: argparse.Namespace) -> int:
    """``ganforge train --on rtl``: :func:`ganforge.bench.system.train_on_rtl`."""
    import dataclasses
    import json
    from ganforge.bench.system import summarize, table_lines, train_on_rtl
    from ganforge.config import get_preset
    from ganforge.testbench import require_simulator
    config = get_preset(args.config)
    if args.cores is not None:
        if args.cores > 16:
            raise UserError(f"--cores {args.cores}: at most 16 cores in one cluster")
        config = dataclasses.replace(config, clusters=1, cores_per_cluster=args.cores)
    writable_file(args.output)
    try:
        require_simulator(args.sim)
    except RuntimeError as exc:
        raise UserError(str(exc))
    _note(f"{args.steps} step(s) of batch {args.batch} on {args.config} "
          f"({config.total_cores} core(s), {config.peak_macs_per_cycle} lanes), {args.sim}, memory "
          f"{args.memory}; building the Verilog and the simulator first")
    with _bench_errors():
        res = train_on_rtl(config, steps=args.steps, batch=args.batch, sim=args.sim,
                           mode=args.mode, memory=args.memory, seed=args.seed, quiet=args.quiet)
    summary = summarize(res)
    print(f"{args.steps} DCGAN training step(s) of batch {args.batch} on {args.config} "
          f"({res['cores']} core(s), {res['lanes']} lanes; {args.sim}, {args.mode}, memory "
          f"{args.memory}): {len(res['programs'])} programs in {res['seconds']:.0f} s")
    print("\n".join(table_lines(summary)))
    t = res["traffic"]
    print(f"host, between programs: {t['writes']} tensor writes ({t['bytes_written']} B), "
          f"{t['reads']} reads ({t['bytes_read']} B), {t['program_bytes']} B of programs, "
          f"{t['beat_bytes']} B of core command beats")
    print(f"parameters of G and D equal the golden training's: {res['equal']}")
    with open(args.output, "w") as f:
        json.dump(dict(res, summary=summary), f, indent=1)
    print(f"wrote {args.output}")
    return 0 if res["equal"] else 1


@contextlib.contextmanager
def _bench_errors():
    """A failed simulation (:class:`~ganforge.testbench.runner.BenchError`: the bench's
    first line and its log) as one ``ganforge: error:`` line."""
    from ganforge.testbench.runner import BenchError
    try:
        yield
    except BenchError as exc:
        raise RunError(str(exc)) from None
