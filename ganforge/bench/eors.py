"""Benchmark EORS on the RTL: ``make bench-eors`` (``scripts/bench_eors.py``); writes
``build/bench/eors.json``.

For each ReLU layer of the saved ``dcgan`` workload (the real operands of one
training step of the trained network; G1, G2, D1, D2), with the EORS knobs of
the golden study (``build/bench/eors_golden.json``'s ``chosen``, or
``--knobs``):

* rates from the golden model on the whole captured batch: true zero,
  predicted zero, false zero and missed zero (all over all outputs);
* on Verilator, for the first ``--samples`` samples, RTL runs driven by
  the firmware: the :class:`~ganforge.rtl.eors.EorsUnit` pass (its prediction
  must equal ``eors_predict``), the core with the prediction as output mask
  (its result must equal ``eors_fp``), and the same core without EORS;
* cycles: without EORS, the unit, the core with EORS (channels balanced over
  the lanes, and in natural order), their sum (sequential), the two
  overlapped on the :class:`~ganforge.rtl.eors.pipeline.EorsPipeline` top level
  (pipelined: measured in one simulation), and ``max`` of the two (computed,
  kept for comparison), beside the ideal (effective MACs with the EORS mask ÷
  lanes) and the speedups;
* the mispredictions counted by the core's hardware counters in an audited
  run, beside the host's count;
* the area of the speculation unit from Yosys (``ganforge area``), unless
  ``--no-area``.

``--samples 0`` simulates the whole captured batch (16 samples for G, 32 for
D): a training step's real work, over which the pipeline's first-tile
speculation amortises. ``--lean`` leaves out the natural-order and audited
runs (their fields are null) and ``--layers G2,D2`` picks layers. The layers
are independent runs: they go through one :class:`~ganforge.executor.Executor`
(local processes, or a Dask cluster: ``--jobs``, ``--cluster``) and are merged
here in workload order into one report and one eors.json.

The keys of eors.json are documented in docs/eors.md.
"""

import dataclasses
import json
import os
import time

import numpy as np

from ganforge import golden as G
from ganforge.bench import BenchFailure, log
from ganforge.bench.eors_study import predict, relu_layers
from ganforge.golden.workloads import load_workload

__all__ = ["Settings", "chosen_knobs", "select_layers", "bench_layer", "total", "run",
           "print_report"]

PROG = "bench_eors"
SCHEMA = "ganforge-eors-bench/1"


@dataclasses.dataclass(frozen=True)
class Settings:
    """What every layer of a run shares: the EORS knobs and how the RTL runs.

    ``samples``: samples of each layer simulated (0: the whole captured batch).
    ``eors_lanes``: lanes of the speculation unit (None: the core's). ``pipeline_tile``:
    samples per tile of the pipelined run (None: the firmware's choice). ``lean``: leave
    out the natural-order and audited runs. ``build_root``: the simulator's build folder.
    """
    mantissa_bits: int
    margin_lsb: int
    sim: str = "verilator"
    samples: int = 4
    eors_lanes: int | None = None
    pipeline_tile: int | None = None
    lean: bool = False
    build_root: str = "build/sim"


def chosen_knobs(path):
    """``(mantissa_bits, margin_lsb, source)`` from the golden study's JSON, if there is one."""
    try:
        with open(path) as f:
            c = json.load(f)["chosen"]
        return int(c["mantissa_bits"]), int(c["margin_lsb"]), path
    except (OSError, KeyError, ValueError):
        return None


def layer_rates(rec, mb, margin_lsb, acc_width):
    pred, _ = predict(rec, mb, margin_lsb, acc_width)
    counts = G.eors_counts(pred, rec["mask"])
    return counts, G.eors_rates(counts=counts)


def bench_layer(item):
    """One layer on the RTL (an executor's item): ``item`` is ``(name, record, config,
    settings)``, ``settings`` a :class:`Settings`; returns the layer's row of eors.json."""
    from ganforge.simop import simulate_eors_op
    name, rec, config, st = item
    mb, margin_lsb = st.mantissa_bits, st.margin_lsb
    counts, rates = layer_rates(rec, mb, margin_lsb, config.eors_acc_width)
    n = st.samples or len(rec["x"])
    x, w = rec["x"][:n].astype(np.int64), rec["w"].astype(np.int64)
    params = dict(stride=int(rec["stride"]), padding=int(rec["padding"]), shift=int(rec["shift"]),
                  activation="relu", slope_shift=int(rec["slope_shift"]))
    if rec["op"] == "conv_transpose":
        params["output_padding"] = 0
    if "bias" in rec:
        params["bias"] = rec["bias"].astype(np.int64)
    margin = int(margin_lsb) << int(rec["shift"])
    log(f"{PROG}: {name} ({rec['op']}, {n} samples): speculation unit, core with and without EORS ...")
    t0 = time.time()
    out = simulate_eors_op(rec["op"], {"x": x, "w": w}, params, config, margin=margin,
                           sim=st.sim, eors_lanes=st.eors_lanes, audit=not st.lean,
                           natural=not st.lean, pipeline_tile=st.pipeline_tile,
                           pipelined=True, build_root=st.build_root)
    wk_off = G.conv2d_work if rec["op"] == "conv" else G.conv_transpose2d_work
    eff_off = wk_off(x, w.shape, params["stride"], params["padding"])["effective"]
    lanes = out["lanes"]
    row = {
        "layer": name, "op": rec["op"], "x_shape": list(x.shape), "w_shape": list(w.shape),
        "margin_acc": margin,
        "counts_full_batch": counts, "rates_full_batch": rates,
        "sim_counts": {k[5:]: int(out[k]) for k in ("eors_outputs", "eors_true_zero",
                                                    "eors_predicted_zero", "eors_false_zero",
                                                    "eors_missed_zero", "eors_caught_zero")},
        "matches_golden": bool(out["matches_golden"]),   # includes the audit's counters
        "prediction_matches_golden": bool(out["prediction_matches_golden"]),
        "cycles_no_eors": int(out["cycles_no_eors"]), "cycles_eors_unit": int(out["eors_cycles"]),
        "cycles_core_eors": int(out["cycles"]),
        "cycles_core_eors_natural": _opt(out, "cycles_natural"),
        "cycles_audit": _opt(out, "audit_cycles"),
        "hw_false_zero": _opt(out, "audit_false_zero"),
        "hw_missed_zero": _opt(out, "audit_missed_zero"),
        "cycles_sequential": int(out["cycles_sequential"]),
        "cycles_overlapped_computed": int(out["cycles_overlapped_computed"]),
        "cycles_pipelined": int(out["cycles_pipelined"]),
        "effective_macs_off": int(eff_off), "effective_macs_on": int(out["effective_macs"]),
        "speculation_products": int(out["eors_macs"]),
        "pipeline_unit_cycles_busy": int(out["pipeline_unit_cycles_busy"]),
        "pipeline_tile": int(out["pipeline_tile"]),
        "ideal_cycles_off": eff_off / lanes, "ideal_cycles_on": out["effective_macs"] / lanes,
        "seconds": time.time() - t0,
    }
    row["sim_rates"] = G.eors_rates(counts=row["sim_counts"])
    _speedups(row)
    log(f"{PROG}: {name}: cycles off {row['cycles_no_eors']}, unit {row['cycles_eors_unit']}, "
        f"core with EORS {row['cycles_core_eors']}, ideal on {row['ideal_cycles_on']:.0f}; "
        f"{'bit-exact' if row['matches_golden'] else 'MISMATCH'} ({row['seconds']:.0f} s)")
    return row


def _opt(out, key):
    """``out[key]`` as an int, or None for a run that ``--lean`` left out."""
    return None if key not in out else int(out[key])


def _speedups(r):
    off = r["cycles_no_eors"]
    r["speedup_core_only"] = off / r["cycles_core_eors"]
    nat = r["cycles_core_eors_natural"]
    r["speedup_core_only_natural"] = None if nat is None else off / nat
    r["speedup_sequential"] = off / r["cycles_sequential"]
    r["speedup_overlapped_computed"] = off / r["cycles_overlapped_computed"]
    r["speedup_pipelined"] = off / r["cycles_pipelined"]
    r["ideal_speedup"] = r["effective_macs_off"] / max(r["effective_macs_on"], 1)


def total(rows):
    keys = ("cycles_no_eors", "cycles_eors_unit", "cycles_core_eors", "cycles_core_eors_natural",
            "cycles_audit", "hw_false_zero", "hw_missed_zero", "cycles_sequential",
            "cycles_pipelined", "pipeline_unit_cycles_busy",
            "cycles_overlapped_computed", "effective_macs_off", "effective_macs_on",
            "speculation_products", "ideal_cycles_off", "ideal_cycles_on")
    # A run left out of any layer (``--lean``) has no total.
    t = {k: None if any(r.get(k) is None for r in rows) else sum(r[k] for r in rows) for k in keys}
    counts = {k: sum(r["counts_full_batch"][k] for r in rows) for k in rows[0]["counts_full_batch"]}
    t["counts_full_batch"] = counts
    t["sim_counts"] = {k: sum(r["sim_counts"][k] for r in rows) for k in rows[0]["sim_counts"]}
    t["rates_full_batch"] = G.eors_rates(counts=counts)
    t["worst_false_zero_rate"] = max(r["rates_full_batch"]["false_zero_rate"] for r in rows)
    _speedups(t)
    return t


def area(config_name, mb, acc_width, out_dir, targets):
    """Yosys area of the speculation unit (``ganforge area --component eors-unit``) through
    :func:`ganforge.area.run_area`, for the preset ``config_name`` with the bench's EORS knobs."""
    from ganforge.area import run_area
    from ganforge.config import get_preset
    from ganforge.errors import RunError, UserError
    config = dataclasses.replace(get_preset(config_name), eors_extra_mantissa_bits=mb,
                                 eors_acc_width=acc_width)
    log(f"{PROG}: Yosys area of the speculation unit ({config_name}, {targets}) ...")
    try:
        rep = run_area(config, config_name, ["eors-unit"], targets.split(","),
                       build_dir=os.path.join(out_dir, "eors_area"),
                       json_path=os.path.join(out_dir, "eors_area.json"), progress=log)
    except (UserError, RunError) as exc:
        raise BenchFailure(f"area of the speculation unit failed: {exc}") from None
    return {"preset": config_name, "json": "eors_area.json",
            "results": [{k: r[k] for k in ("component", "description", "lanes", "target", "cells",
                                            "lut", "ff", "dsp", "bram")}
                        for r in rep["results"]]}


def print_report(res):
    k = res["knobs"]
    print(f"\nEORS on the real ReLU layers of 'dcgan' ({res['config']}: {res['lanes']} core lanes, "
          f"{res['eors_lanes']} unit lanes; mantissa bits {k['mantissa_bits']}, margin "
          f"{k['margin_lsb']} LSB, accumulator {k['acc_width']} bits)")
    print("rates over all outputs of the whole captured batch (golden):")
    print(f"{'layer':6s} {'true0':>7s} {'pred0':>7s} {'false0':>7s} {'missed0':>8s}")
    for r in res["layers"] + [dict(res["total"], layer="all")]:
        q = r["rates_full_batch"]
        print(f"{r['layer']:6s} {q['true_zero_rate']:7.2%} {q['predicted_zero_rate']:7.2%} "
              f"{q['false_zero_rate']:7.2%} {q['missed_zero_rate']:8.2%}")
    which = "the whole captured batch" if not res["samples"] else f"first {res['samples']} samples"
    print(f"cycles on Verilator, {which} (core on: channels balanced over the lanes, natural "
          f"order beside it; pipelined: the unit and the core in one simulation, the core on "
          f"tile t while the unit speculates tile t+1; '-': left out by --lean):")
    print(f"{'layer':6s} {'off':>8s} {'unit':>8s} {'on, nat':>8s} {'core on':>8s} {'seq':>8s} "
          f"{'pipelined':>9s} {'ideal on':>9s} {'nat':>6s} {'core':>6s} {'seq':>6s} {'pipe':>6s} "
          f"{'ideal':>6s} ok")
    rows = res["layers"] + [dict(res["total"], layer="all", matches_golden=res["all_match"])]

    def n(v, w):
        return f"{'-':>{w}s}" if v is None else f"{v:{w}d}"

    def x(v):
        return f"{'-':>5s} " if v is None else f"{v:5.2f}x"
    for r in rows:
        print(f"{r['layer']:6s} {n(r['cycles_no_eors'], 8)} {n(r['cycles_eors_unit'], 8)} "
              f"{n(r['cycles_core_eors_natural'], 8)} {n(r['cycles_core_eors'], 8)} "
              f"{n(r['cycles_sequential'], 8)} {n(r['cycles_pipelined'], 9)} "
              f"{r['ideal_cycles_on']:9.0f} {x(r['speedup_core_only_natural'])} "
              f"{x(r['speedup_core_only'])} {x(r['speedup_sequential'])} "
              f"{x(r['speedup_pipelined'])} {x(r['ideal_speedup'])} "
              f"{'yes' if r['matches_golden'] else 'NO'}")
    print("samples per pipeline tile: " + ", ".join(
        f"{r['layer']} {r['pipeline_tile']}" for r in res["layers"]))
    if all(r["hw_false_zero"] is not None for r in rows):
        print("mispredictions on the simulated samples: the audited core's hardware counters "
              "(every tap computed, the prediction applied at the drain) beside the host's count:")
        print(f"{'layer':6s} {'outputs':>8s} {'false0 hw':>10s} {'host':>6s} {'missed0 hw':>11s} "
              f"{'host':>6s} {'audit cycles':>13s}")
        for r in rows:
            c = r["sim_counts"]
            print(f"{r['layer']:6s} {c['outputs']:8d} {r['hw_false_zero']:10d} "
                  f"{c['false_zero']:6d} {r['hw_missed_zero']:11d} {c['missed_zero']:6d} "
                  f"{r['cycles_audit']:13d}")
    if res.get("area"):
        print(f"area (Yosys, preset {res['area']['preset']}):")
        for a in res["area"]["results"]:
            print(f"  {a['component']:5s} {a['target']:6s} LUT {a['lut']} FF {a['ff']} DSP {a['dsp']} "
                  f"BRAM {a['bram']} (unit lanes {a['lanes']})")


def select_layers(layers=None):
    """The ReLU layers of ``dcgan`` named in ``layers`` (None: all), in workload order.
    Raises ``ValueError`` naming the ReLU layers for an unknown one."""
    relu = relu_layers(load_workload("dcgan")[0])
    names = list(relu) if layers is None else list(layers)
    unknown = [n for n in names if n not in relu]
    if unknown or not names:
        raise ValueError(f"--layers: unknown layer {', '.join(unknown) or '(none)'}; the ReLU "
                         f"layers are {','.join(relu)}")
    return [n for n in relu if n in names]


def run(config, config_name, settings, executor, *, layers=None, knobs_source="",
        area_config=None, area_targets="ice40,ecp5", out="build/bench"):
    """The bench: each selected ReLU layer of ``dcgan`` (``layers``: names, None: all) through
    ``executor``, merged in workload order; the unit's area unless ``area_config`` is None.
    ``config``: the :class:`~ganforge.config.AcceleratorConfig` with the EORS knobs set.
    Writes ``OUT/eors.json``, prints the report and returns the result (keys: docs/eors.md)."""
    t0 = time.time()
    relu = relu_layers(load_workload("dcgan")[0])
    names = select_layers(layers)
    rows = executor.map(bench_layer, [(n, relu[n], config, settings) for n in names], names=names)
    res = {"schema": SCHEMA, "config": config_name, "lanes": config.lanes_per_core,
           "eors_lanes": settings.eors_lanes or config.lanes_per_core, "samples": settings.samples,
           "sim": settings.sim,
           "knobs": {"mantissa_bits": settings.mantissa_bits, "margin_lsb": settings.margin_lsb,
                     "acc_width": config.eors_acc_width, "source": knobs_source},
           "layers": rows, "total": total(rows), "all_match": all(r["matches_golden"] for r in rows)}
    res["area"] = None if area_config is None else area(
        area_config, settings.mantissa_bits, config.eors_acc_width, out, area_targets)
    res["seconds"] = time.time() - t0
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "eors.json"), "w") as f:
        json.dump(res, f, indent=1)
    print_report(res)
    print(f"\nwrote {out}/eors.json ({res['seconds']:.0f} s of benching)")
    return res
