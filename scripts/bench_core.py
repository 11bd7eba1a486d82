"""Benchmark the sparse core on Verilator: ``make bench-core``.

Every number here is a cycle count from RTL simulation of the generated
Verilog, driven by the same firmware driver as ``ganforge sim-op``, with the
streams unthrottled. Beside each measurement is its physical limit:
``ideal = effective MACs / lanes`` (every lane busy on a useful MAC every
cycle). ``speedup`` is always the same core with every kind of skipping
switched off (``--dense``), on the same layer, in the same run.

Sections (keys of ``build/bench/core.json``; see docs/bench-core.md):

* ``dense``: the reference layers of the trained DCGAN (FP and EP of every
  layer; the first ``--samples`` samples of the saved batch) with skipping
  off. MACs per cycle over all cycles (loads included) and over busy cycles,
  against the lane count.
* ``sparse_sweep``: a 64-channel 16×16 3×3 conv, 64 output channels, input
  sparsity × output-mask sparsity in {0, 50, 90} %; speedup over dense
  beside the ideal ``dense MACs / effective MACs``.
* ``tconv``: a stride-2 4×4 transposed conv. MACs issued against the
  zero-free count, and cycles against the same core running the equivalent
  convolution on zero-inserted input.
* ``real``: the reference layers' real FP and EP, sparse against dense,
  beside the ideal.
"""

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from ganforge import golden as G                                      # noqa: E402
from ganforge.config import get_preset                                # noqa: E402
from ganforge.golden.workloads import load_workload                   # noqa: E402
from ganforge.simop import simulate_op                                # noqa: E402


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def run(op, tensors, params, config, dense, sim):
    out = simulate_op(op, tensors, params, config, sim=sim, dense=dense)
    if not out["matches_golden"]:
        raise SystemExit(f"bench: {op} result does not match the golden model")
    keys = ("cycles", "macs_issued", "cycles_busy", "cycles_stalled", "cycles_idle", "dense_macs",
            "output_mask_skipped", "input_zero_skipped", "zero_insertion_skipped",
            "effective_macs", "ideal_cycles")
    return {k: (float(out[k]) if k == "ideal_cycles" else int(out[k])) for k in keys}


def layer_ops(rec, samples):
    """FP and EP ops of a captured layer (first ``samples`` samples)."""
    x = rec["x"][:samples].astype(np.int64)
    w = rec["w"].astype(np.int64)
    s, p, k = int(rec["stride"]), int(rec["padding"]), int(rec["kernel"])
    tconv = rec["op"] == "conv_transpose"
    fp_params = dict(stride=s, padding=p, shift=int(rec["shift"]), activation=str(rec["activation"]),
                     slope_shift=int(rec["slope_shift"]))
    if "bias" in rec:
        fp_params["bias"] = rec["bias"].astype(np.int64)
    ops = [("FP", "conv_transpose" if tconv else "conv", {"x": x, "w": w}, fp_params)]
    if "dy" in rec and "in_mask" in rec:
        dy = rec["dy"][:samples].astype(np.int64)
        ep_params = dict(stride=s, padding=p, shift=8, activation="identity", slope_shift=2,
                         out_mask=rec["in_mask"][:samples])
        if tconv:
            ops.append(("EP", "conv_transpose_input_grad", {"dy": dy, "w": w}, ep_params))
        else:
            ep_params["input_hw"] = tuple(x.shape[2:])
            ops.append(("EP", "conv_input_grad", {"dy": dy, "w": w}, ep_params))
    return ops


def bench_reference(config, sim, samples):
    layers, _ = load_workload("dcgan")
    lanes = config.lanes_per_core
    dense_rows, real_rows = [], []
    for name, rec in layers.items():
        for phase, op, tensors, params in layer_ops(rec, samples):
            log(f"bench: {name} {phase} ({op}) dense and sparse ...")
            d = run(op, tensors, params, config, True, sim)
            sp = run(op, tensors, params, config, False, sim)
            dense_rows.append({"layer": name, "phase": phase, "op": op, **d,
                               "macs_per_cycle": d["macs_issued"] / d["cycles"],
                               "macs_per_busy_cycle": d["macs_issued"] / d["cycles_busy"],
                               "efficiency": d["macs_issued"] / d["cycles"] / lanes,
                               "busy_efficiency": d["macs_issued"] / d["cycles_busy"] / lanes})
            real_rows.append({"layer": name, "phase": phase, "op": op,
                              "dense_cycles": d["cycles"], "sparse_cycles": sp["cycles"],
                              "ideal_cycles": sp["ideal_cycles"],
                              "speedup": d["cycles"] / sp["cycles"],
                              "ideal_speedup": sp["dense_macs"] / max(sp["effective_macs"], 1),
                              "macs_issued": sp["macs_issued"], "effective_macs": sp["effective_macs"],
                              "dense_macs": sp["dense_macs"]})
    return dense_rows, real_rows


def bench_sweep(config, sim, levels, seed=0):
    rng = np.random.default_rng(seed)
    c, hw, k = 64, 16, 3
    w = rng.integers(-2000, 2000, (c, c, k, k))
    base = rng.integers(-2000, 2000, (1, c, hw, hw))
    base[base == 0] = 1
    rows = []
    dense = None
    for si in levels:
        x = base.copy()
        x[rng.random(x.shape) < si] = 0
        for so in levels:
            mask = rng.random((1, c, hw, hw)) >= so
            params = dict(stride=1, padding=1, shift=12, activation="relu", slope_shift=2, out_mask=mask)
            if dense is None:
                log("bench: sweep dense baseline (64x16x16, 3x3, 64 out) ...")
                dense = run("conv", {"x": x, "w": w}, params, config, True, sim)
            log(f"bench: sweep input {si:.0%} zero, output {so:.0%} masked ...")
            sp = run("conv", {"x": x, "w": w}, params, config, False, sim)
            rows.append({"input_sparsity": si, "output_sparsity": so, "dense_cycles": dense["cycles"],
                         "sparse_cycles": sp["cycles"], "ideal_cycles": sp["ideal_cycles"],
                         "speedup": dense["cycles"] / sp["cycles"],
                         "ideal_speedup": sp["dense_macs"] / max(sp["effective_macs"], 1),
                         "macs_issued": sp["macs_issued"], "effective_macs": sp["effective_macs"]})
    return rows


def bench_tconv(config, sim, seed=1):
    """Zero-free stride-2 4x4 transposed conv against the same core on zero-inserted input."""
    rng = np.random.default_rng(seed)
    n, cin, cout, hw, k, s, p = 1, 32, 32, 8, 4, 2, 1
    x = rng.integers(-2000, 2000, (n, cin, hw, hw))
    w = rng.integers(-2000, 2000, (cin, cout, k, k))
    params = dict(stride=s, padding=p, shift=12, activation="identity", slope_shift=2)
    log("bench: transposed conv, zero-free ...")
    zf = run("conv_transpose", {"x": x, "w": w}, params, config, True, sim)
    # The same op as a stride-1 conv on zero-inserted input, padded by K-1-p, flipped kernel.
    xd = np.zeros((n, cin, (hw - 1) * s + 1, (hw - 1) * s + 1), dtype=np.int64)
    xd[:, :, ::s, ::s] = x
    xd = np.pad(xd, ((0, 0), (0, 0), (k - 1 - p,) * 2, (k - 1 - p,) * 2))
    wc = np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))
    log("bench: transposed conv on zero-inserted input ...")
    zi = run("conv", {"x": xd, "w": wc}, dict(params, stride=1, padding=0), config, True, sim)
    work = G.conv_transpose2d_work(x, w.shape, s, p)
    return {"zero_free_cycles": zf["cycles"], "zero_insert_cycles": zi["cycles"],
            "speedup": zi["cycles"] / zf["cycles"], "ideal_speedup": work["zero_insert"] / work["dense"],
            "macs_issued": zf["macs_issued"], "zero_free_macs": work["dense"],
            "zero_insert_macs": zi["macs_issued"], "golden_zero_insert_macs": work["zero_insert"],
            "zero_insertion_skipped": zf["zero_insertion_skipped"],
            "golden_zero_insertion_skipped": work["zero_insertion_skipped"]}


def print_tables(res, lanes):
    print(f"\nDense (skipping off) on the reference DCGAN layers, {lanes} lanes: MACs per cycle")
    print(f"{'layer':6s} {'phase':5s} {'MACs':>10s} {'cycles':>9s} {'MAC/cyc':>8s} {'eff':>6s} {'busy eff':>9s}")
    for r in res["dense"]:
        print(f"{r['layer']:6s} {r['phase']:5s} {r['macs_issued']:10d} {r['cycles']:9d} "
              f"{r['macs_per_cycle']:8.2f} {r['efficiency']:6.1%} {r['busy_efficiency']:9.1%}")
    print("\nDual sparsity: 64-ch 16x16 3x3 conv, speedup over the dense core (ideal beside)")
    levels = sorted({r["output_sparsity"] for r in res["sparse_sweep"]})
    print("in \\ out " + "".join(f"{lv:>16.0%}" for lv in levels))
    for si in sorted({r["input_sparsity"] for r in res["sparse_sweep"]}):
        cells = [r for r in res["sparse_sweep"] if r["input_sparsity"] == si]
        print(f"{si:8.0%} " + "".join(f"{r['speedup']:7.2f}x ({r['ideal_speedup']:5.1f})" for r in cells))
    t = res["tconv"]
    print(f"\nTransposed conv s2 k4 (32->32, 8x8->16x16): MACs issued {t['macs_issued']} = zero-free "
          f"{t['zero_free_macs']}: {t['macs_issued'] == t['zero_free_macs']}; cycles {t['zero_free_cycles']} "
          f"vs {t['zero_insert_cycles']} on zero-inserted input: {t['speedup']:.2f}x "
          f"(ideal {t['ideal_speedup']:.2f}x); zero-insertion MACs skipped (core counter) "
          f"{t['zero_insertion_skipped']} = golden {t['golden_zero_insertion_skipped']}: "
          f"{t['zero_insertion_skipped'] == t['golden_zero_insertion_skipped']}")
    print("\nReal layers (trained DCGAN, one training step): sparse vs dense")
    print(f"{'layer':6s} {'phase':5s} {'dense cyc':>10s} {'sparse cyc':>11s} {'ideal cyc':>10s} "
          f"{'speedup':>8s} {'ideal':>7s}")
    for r in res["real"]:
        print(f"{r['layer']:6s} {r['phase']:5s} {r['dense_cycles']:10d} {r['sparse_cycles']:11d} "
              f"{r['ideal_cycles']:10.0f} {r['speedup']:7.2f}x {r['ideal_speedup']:6.2f}x")


def plot(res, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    sw = res["sparse_sweep"]
    labels = [f"{r['input_sparsity']:.0%}/{r['output_sparsity']:.0%}" for r in sw]
    xs = np.arange(len(sw))
    axes[0].bar(xs - 0.2, [r["speedup"] for r in sw], 0.4, label="measured")
    axes[0].bar(xs + 0.2, [r["ideal_speedup"] for r in sw], 0.4, label="ideal")
    axes[0].set_xticks(xs, labels, rotation=45)
    axes[0].set_yscale("log")
    axes[0].set_ylabel("speedup over dense")
    axes[0].set_title("64-ch 16x16 3x3: input / output sparsity")
    axes[0].legend()
    real = res["real"]
    xs = np.arange(len(real))
    axes[1].bar(xs - 0.2, [r["speedup"] for r in real], 0.4, label="measured")
    axes[1].bar(xs + 0.2, [r["ideal_speedup"] for r in real], 0.4, label="ideal")
    axes[1].set_xticks(xs, [f"{r['layer']} {r['phase']}" for r in real], rotation=45)
    axes[1].set_title("real DCGAN layers")
    axes[1].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="bench_core", description=__doc__.split("\n")[0])
    ap.add_argument("--config", default="small")
    ap.add_argument("--sim", default="verilator", choices=("verilator", "icarus"))
    ap.add_argument("--samples", type=int, default=16, help="samples of each reference layer")
    ap.add_argument("--out", default="build/bench")
    ap.add_argument("--quick", action="store_true", help="sweep {0, 90} % only and skip nothing else")
    args = ap.parse_args(argv)
    config = get_preset(args.config)
    t0 = time.time()
    res = {"config": args.config, "lanes": config.lanes_per_core, "samples": args.samples}
    res["dense"], res["real"] = bench_reference(config, args.sim, args.samples)
    res["sparse_sweep"] = bench_sweep(config, args.sim, [0.0, 0.9] if args.quick else [0.0, 0.5, 0.9])
    res["tconv"] = bench_tconv(config, args.sim)
    res["seconds"] = time.time() - t0
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "core.json"), "w") as f:
        json.dump(res, f, indent=1)
    plot(res, os.path.join(args.out, "core.png"))
    print_tables(res, config.lanes_per_core)
    print(f"\nwrote {args.out}/core.json and core.png in {res['seconds']:.0f} s")


if __name__ == "__main__":
    main()
