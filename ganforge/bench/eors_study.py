"""EORS in the golden model: prediction rates on real ReLU layers, and training with EORS on.

The library behind ``scripts/eors_study.py``; usage (after ``. scripts/env.sh``)::

    python scripts/eors_study.py [--workload dcgan] [--mantissa-bits 0 1 2 3]
                                 [--margins-lsb 0 32 64 ...] [--bar 0.01] [--tolerance 0.02]
                                 [--knobs MB MARGIN_LSB] [--iterations 1500] [--batch 64]
                                 [--seeds 0 ...] [--jobs N] [--cluster ADDRESS]
                                 [--no-train] [--out build/bench]

Two parts, written to ``<out>/eors_golden.json`` (every key in docs/eors.md)
and printed as tables; progress goes to stderr.

(a) **Rates and ideal speedup.** On every ReLU conv/transposed-conv layer of
    the saved workload (real trained operands), for each ``mantissa_bits`` ×
    ``margin_lsb`` of the sweep: :func:`eors_predict` with
    ``margin = margin_lsb · 2**shift`` accumulator units, the counts and
    rates of :func:`eors_rates` against the stored ReLU mask, and the MAC
    counts of :mod:`ganforge.golden.work` with the predicted-nonzero map as
    output mask. The ideal EORS speedup of a layer is its effective MACs
    (input-zero skipping) without EORS ÷ with EORS; the speculation pass is
    not in it (its cost is measured in RTL).

    The knobs for training are chosen from the sweep, unless ``--knobs`` is
    given: among the settings whose false-zero rate is ≤ ``--bar`` on every
    layer, the one with the fewest mantissa bits (the cheapest unit) whose
    ideal speedup over all layers is within ``--tolerance`` of the best such
    setting's, then the highest speedup. If no setting meets the bar, the one
    with the lowest worst-layer false-zero rate is taken and the report says so.

(b) **Training.** The reference DCGAN is trained twice in fixed point with
    ``make demo``'s settings (1500 iterations, batch 64, seed 0): EORS off, and
    EORS on with the chosen knobs in every ReLU layer (G1, G2, D1, D2). Both are
    scored on the same 1000 latents as the demo; the EORS-trained generator is
    scored sampling with EORS on (what the accelerator produces) and off.
"""

import json
import os
import time

import numpy as np

from ganforge import golden as G
from ganforge.bench import log
from ganforge.golden.workloads import load_workload

__all__ = ["StudyError", "relu_layers", "predict", "layer_baseline", "sweep", "choose",
           "train_compare", "run", "print_report"]

PROG = "eors_study"
SCHEMA = "ganforge-eors-golden/1"


class StudyError(Exception):
    """A problem with the user's input, printed as one line."""


# --------------------------------------------------------------------------- part (a)

def relu_layers(layers):
    """The workload's ReLU convolution layers: ``{name: record}``."""
    return {n: r for n, r in layers.items()
            if r.get("op") in ("conv", "conv_transpose") and r.get("activation") == "relu"}


def _operands(rec):
    return (rec["x"].astype(np.int64), rec["w"].astype(np.int64), rec.get("bias"),
            int(rec["stride"]), int(rec["padding"]))


def work(rec, out_mask=None):
    """MAC counts of a layer's FP (``out_mask``: True = computed)."""
    x, w, _, s, p = _operands(rec)
    if rec["op"] == "conv":
        return G.conv2d_work(x, w.shape, s, p, out_mask=out_mask)
    return G.conv_transpose2d_work(x, w.shape, s, p, out_mask=out_mask)


def layer_baseline(rec):
    """What a layer is without EORS: its zeros, typical pre-activation, MACs, the oracle speedup."""
    x, w, b, s, p = _operands(rec)
    conv = G.conv2d if rec["op"] == "conv" else G.conv_transpose2d
    pre = conv(x, w, s, p) + (b[None, :, None, None] if b is not None else 0)
    shift = int(rec["shift"])
    plain, oracle = work(rec), work(rec, out_mask=rec["mask"])
    median = float(np.median(np.abs(pre)))
    return {"op": rec["op"], "x_shape": list(x.shape), "w_shape": list(w.shape),
            "out_shape": list(rec["mask"].shape), "shift": shift,
            "outputs": int(rec["mask"].size), "true_zero_rate": float(np.mean(~rec["mask"])),
            "median_abs_pre_acc": median, "median_abs_pre_lsb": median / 2.0 ** shift,
            "dense_macs": plain["dense"], "effective_macs": plain["effective"],
            "speculation_ops": plain["effective"],
            "oracle_effective_macs": oracle["effective"],
            "oracle_ideal_speedup": plain["effective"] / oracle["effective"]}


def baseline_total(bases):
    """The layers without EORS taken together: outputs, zeros, MACs, the oracle speedup."""
    n = sum(b["outputs"] for b in bases.values())
    eff = sum(b["effective_macs"] for b in bases.values())
    oracle = sum(b["oracle_effective_macs"] for b in bases.values())
    zeros = sum(b["true_zero_rate"] * b["outputs"] for b in bases.values())
    return {"outputs": n, "true_zero_rate": zeros / n,
            "dense_macs": sum(b["dense_macs"] for b in bases.values()), "effective_macs": eff,
            "oracle_effective_macs": oracle, "oracle_ideal_speedup": eff / oracle}


def predict(rec, mantissa_bits, margin_lsb, acc_width=48):
    """``(predicted_zero, margin)`` of a workload layer: :func:`eors_predict` with the margin
    ``margin_lsb`` LSBs of the layer's requantised output (``margin_lsb << shift``)."""
    x, w, b, s, p = _operands(rec)
    margin = int(margin_lsb) << int(rec["shift"])
    return G.eors_predict(x, w, b, s, p, op=rec["op"], mantissa_bits=mantissa_bits,
                          margin=margin, acc_width=acc_width), margin


def evaluate(rec, base, mantissa_bits, margin_lsb):
    """One layer at one knob setting: counts, rates, MACs with the EORS output mask."""
    pred, margin = predict(rec, mantissa_bits, margin_lsb)
    counts = G.eors_counts(pred, rec["mask"])
    macs = work(rec, out_mask=~pred)
    return {"margin_acc": margin, "margin_of_median": margin / base["median_abs_pre_acc"],
            "counts": counts, "rates": G.eors_rates(counts=counts),
            "effective_macs": macs["effective"], "eors_skipped_macs": macs["output_mask_skipped"],
            "ideal_speedup": base["effective_macs"] / macs["effective"]}


def _sum_counts(entries):
    keys = entries[0]["counts"]
    return {k: sum(e["counts"][k] for e in entries) for k in keys}


def sweep(layers, bases, mantissa_bits, margins_lsb, bar):
    """Every knob setting on every layer, with totals over the layers."""
    rows = []
    for mb in mantissa_bits:
        for m in margins_lsb:
            per = {n: evaluate(rec, bases[n], mb, m) for n, rec in layers.items()}
            counts = _sum_counts(list(per.values()))
            eff_off = sum(bases[n]["effective_macs"] for n in layers)
            eff_on = sum(e["effective_macs"] for e in per.values())
            worst = max(e["rates"]["false_zero_rate"] for e in per.values())
            rows.append({"mantissa_bits": mb, "margin_lsb": m, "layers": per,
                         "total": {"counts": counts, "rates": G.eors_rates(counts=counts),
                                   "effective_macs_off": eff_off, "effective_macs_on": eff_on,
                                   "ideal_speedup": eff_off / eff_on},
                         "worst_false_zero_rate": worst, "meets_bar": worst <= bar})
            log(f"  mantissa_bits={mb} margin_lsb={m}: worst false-zero {100 * worst:.2f} %, "
                f"ideal speedup {eff_off / eff_on:.3f}x")
    return rows


def find_row(rows, mantissa_bits, margin_lsb):
    """The sweep row of one knob setting, or None."""
    return next((r for r in rows if r["mantissa_bits"] == mantissa_bits
                 and r["margin_lsb"] == margin_lsb), None)


def choose(rows, tolerance):
    """The knob setting for training (see the module docstring); ``(row, meets_bar)``."""
    ok = [r for r in rows if r["meets_bar"]]
    if not ok:
        return min(rows, key=lambda r: r["worst_false_zero_rate"]), False
    best = max(r["total"]["ideal_speedup"] for r in ok)
    near = [r for r in ok if r["total"]["ideal_speedup"] >= (1.0 - tolerance) * best]
    return min(near, key=lambda r: (r["mantissa_bits"], -r["total"]["ideal_speedup"])), True


# --------------------------------------------------------------------------- part (b)

def _progress(desc):
    """A progress callback logging every tenth of the run to stderr (safe in worker processes)."""
    t0 = time.time()

    def update(i, n, info):
        if (i + 1) % max(1, n // 10) == 0 or i == n - 1:
            log(f"  {desc}: {i + 1}/{n} iterations, {time.time() - t0:.0f} s")
    return update


def _train_one(seed, knobs, iterations, batch):
    """One fixed-point training run; returns the generator and what the report needs."""
    from ganforge.golden.data import load_digits16
    from ganforge.golden.nn import Arith
    from ganforge.golden.train import train_dcgan

    label = "off" if knobs is None else "on"
    t0 = time.time()
    res = train_dcgan(Arith(fixed=True), iterations=iterations, batch=batch, seed=seed,
                      data=load_digits16(), eors=knobs,
                      progress=_progress(f"seed {seed}, EORS {label}"))
    return {"G": res["G"], "seconds": time.time() - t0, "eors_totals": res["eors_totals"],
            "final_losses": res["losses"][-50:].mean(axis=0).tolist()}


def _train_task(task):
    """An executor's item: ``(seed, knobs, iterations, batch)`` -> :func:`_train_one`."""
    return _train_one(*task)


def train_compare(knobs, iterations, batch, seeds, executor):
    """Train off and on for each seed; scores, ratios and EORS's counters over each run.

    The runs go through ``executor`` (:class:`~ganforge.executor.Executor`). Every run is
    scored on the demo's 1000 latents for its seed; the EORS-trained generator samples
    with EORS on (``score_on``) and off (``score_on_exact_sampling``).
    """
    from ganforge.golden.data import load_digits16
    from ganforge.golden.nn import Arith
    from ganforge.golden.score import DigitScorer
    from ganforge.golden.train import NZ, generate

    seeds = list(dict.fromkeys(seeds))
    tasks = [(seed, k) for seed in seeds for k in (None, knobs)]
    done = executor.map(_train_task, [(seed, k, iterations, batch) for seed, k in tasks],
                        names=[f"seed {seed}, EORS {'off' if k is None else 'on'}"
                               for seed, k in tasks])
    data = load_digits16()
    scorer = DigitScorer(*data)
    ar = Arith(fixed=True)
    runs = []
    for seed in seeds:
        off, on = (done[tasks.index((seed, k))] for k in (None, knobs))
        z = np.random.default_rng(seed + 1000).normal(size=(1000, NZ))      # the demo's latents
        run = {"seed": seed, "score_off": scorer.score(generate(off["G"], z, ar)[0]),
               "score_on": scorer.score(generate(on["G"], z, ar)[0])}
        for layer in on["G"].layers:
            layer.eors = None
        run["score_on_exact_sampling"] = scorer.score(generate(on["G"], z, ar)[0])
        run["score_ratio"] = run["score_on"] / run["score_off"]
        run.update(seconds_off=off["seconds"], seconds_on=on["seconds"],
                   final_losses_off=off["final_losses"], final_losses_on=on["final_losses"],
                   eors_totals={n: {"counts": c, "rates": G.eors_rates(counts=c)}
                                for n, c in on["eors_totals"].items()})
        runs.append(run)
        log(f"  seed {seed}: score off {run['score_off']:.3f}, on {run['score_on']:.3f}")
    mean_off = float(np.mean([r["score_off"] for r in runs]))
    mean_on = float(np.mean([r["score_on"] for r in runs]))
    return {"iterations": iterations, "batch": batch, "seeds": list(seeds), "jobs": executor.jobs,
            "knobs": {"mantissa_bits": knobs.mantissa_bits, "margin_lsb": knobs.margin_lsb},
            "score_ceiling_real": scorer.ceiling(), "runs": runs,
            "score_off_mean": mean_off, "score_on_mean": mean_on,
            "score_ratio_of_means": mean_on / mean_off,
            "score_ratio_min": min(r["score_ratio"] for r in runs)}


# --------------------------------------------------------------------------- report

def _pct(v):
    return "     -" if v is None else f"{100 * v:5.2f}%"


def print_report(res):
    names = list(res["layers"])
    print(f"ReLU layers of workload {res['workload']!r} without EORS:")
    print(f"{'layer':6s} {'op':15s} {'outputs':>8s} {'true 0':>7s} {'med|pre| LSB':>13s} "
          f"{'eff. MACs':>10s} {'oracle speedup':>15s}")
    for n in names:
        b = res["layers"][n]
        print(f"{n:6s} {b['op']:15s} {b['outputs']:8d} {_pct(b['true_zero_rate']):>7s} "
              f"{b['median_abs_pre_lsb']:13.0f} {b['effective_macs']:10d} "
              f"{b['oracle_ideal_speedup']:14.3f}x")
    b = res["layers_total"]
    print(f"{'total':6s} {'':15s} {b['outputs']:8d} {_pct(b['true_zero_rate']):>7s} {'':13s} "
          f"{b['effective_macs']:10d} {b['oracle_ideal_speedup']:14.3f}x")
    print("(oracle speedup: effective MACs with input skipping ÷ the same with the true ReLU "
          "mask as output mask: the most a speculation without false zeros can give)")
    print()
    print("sweep: false-zero rate per layer (all outputs), zeros caught and ideal speedup over "
          "all layers:")
    print(f"{'mb':>2s} {'margin':>6s} " + " ".join(f"{'FZ ' + n:>7s}" for n in names)
          + f" {'caught':>7s} {'speedup':>8s}  bar")
    for r in res["sweep"]:
        print(f"{r['mantissa_bits']:2d} {r['margin_lsb']:6d} "
              + " ".join(f"{_pct(r['layers'][n]['rates']['false_zero_rate']):>7s}" for n in names)
              + f" {_pct(r['total']['rates']['caught_zero_fraction']):>7s}"
              f" {r['total']['ideal_speedup']:7.3f}x  {'yes' if r['meets_bar'] else 'no'}")
    c = res["chosen"]
    print()
    print(f"chosen knobs: mantissa_bits={c['mantissa_bits']} margin_lsb={c['margin_lsb']} "
          f"({c['how']}; false-zero bar {_pct(res['bar']).strip()} "
          f"{'met' if c['meets_bar'] else 'NOT met'} on every layer)")
    row = find_row(res["sweep"], c["mantissa_bits"], c["margin_lsb"])
    print(f"{'layer':6s} {'true 0':>7s} {'pred 0':>7s} {'false 0':>8s} {'missed 0':>9s} "
          f"{'caught':>7s} {'eff. MACs off':>14s} {'on':>10s} {'ideal speedup':>14s}")
    for n in names + ["total"]:
        e = row["layers"][n] if n != "total" else row["total"]
        rt = e["rates"]
        off = res["layers"][n]["effective_macs"] if n != "total" else e["effective_macs_off"]
        on = e["effective_macs"] if n != "total" else e["effective_macs_on"]
        print(f"{n:6s} {_pct(rt['true_zero_rate']):>7s} {_pct(rt['predicted_zero_rate']):>7s} "
              f"{_pct(rt['false_zero_rate']):>8s} {_pct(rt['missed_zero_rate']):>9s} "
              f"{_pct(rt['caught_zero_fraction']):>7s} {off:14d} {on:10d} "
              f"{e['ideal_speedup']:13.3f}x")
    t = res.get("training")
    if t:
        print()
        print(f"training ({t['iterations']} iterations, batch {t['batch']}), quality score of 1000 "
              f"samples (real digits, the ceiling: {t['score_ceiling_real']:.3f}):")
        print(f"{'seed':>4s} {'EORS off':>9s} {'EORS on':>8s} {'on/off':>7s} "
              f"{'on, sampled exactly':>20s} {'s off':>6s} {'s on':>6s}")
        for r in t["runs"]:
            print(f"{r['seed']:4d} {r['score_off']:9.3f} {r['score_on']:8.3f} "
                  f"{100 * r['score_ratio']:6.1f}% {r['score_on_exact_sampling']:20.3f} "
                  f"{r['seconds_off']:6.0f} {r['seconds_on']:6.0f}")
        if len(t["runs"]) > 1:
            print(f"mean {t['score_off_mean']:9.3f} {t['score_on_mean']:8.3f} "
                  f"{100 * t['score_ratio_of_means']:6.1f}%")
        print("(bar: on/off >= 95 %)")
        print("EORS counters over each whole run (rates of all outputs):")
        for r in t["runs"]:
            for n, e in r["eors_totals"].items():
                rt = e["rates"]
                print(f"  seed {r['seed']} {n:4s} true 0 {_pct(rt['true_zero_rate'])}  pred 0 "
                      f"{_pct(rt['predicted_zero_rate'])}  false 0 {_pct(rt['false_zero_rate'])}  "
                      f"missed 0 {_pct(rt['missed_zero_rate'])}  "
                      f"caught {_pct(rt['caught_zero_fraction'])}")


# --------------------------------------------------------------------------- run

def run(executor, *, workload="dcgan", mantissa_bits=(0, 1, 2, 3),
        margins_lsb=(0, 32, 64, 128, 256, 512, 1024), bar=0.01, tolerance=0.02, knobs=None,
        iterations=1500, batch=64, seeds=(0,), train=True, out="build/bench"):
    """The study (see the module docstring): write ``OUT/eors_golden.json``, print the report
    and return the result. ``knobs``: ``(mantissa_bits, margin_lsb)`` to train with instead
    of the chosen ones. The training runs go through ``executor``. Raises
    :class:`StudyError` for a problem with the input (one line)."""
    t0 = time.time()
    try:
        data, meta = load_workload(workload)
    except FileNotFoundError as exc:
        raise StudyError(str(exc)) from None
    layers = relu_layers(data)
    if not layers:
        raise StudyError(f"workload {workload!r} has no ReLU conv layers (EORS needs one)")
    log(f"{PROG}: {len(layers)} ReLU layers of {workload!r}: {', '.join(layers)}")
    bases = {n: layer_baseline(rec) for n, rec in layers.items()}
    rows = sweep(layers, bases, mantissa_bits, margins_lsb, bar)
    if knobs:
        mb, m = knobs
        row = find_row(rows, mb, m)
        if row is None:                       # not in the sweep: evaluate it and add it
            row = sweep(layers, bases, [mb], [m], bar)[0]
            rows.append(row)
        how = "given with --knobs"
    else:
        row, met = choose(rows, tolerance)
        how = (f"fewest mantissa bits within {100 * tolerance:g} % of the best speedup "
               f"meeting the bar" if met else
               "no setting meets the bar: the lowest worst-layer false-zero rate")
    chosen = {"mantissa_bits": row["mantissa_bits"], "margin_lsb": row["margin_lsb"], "how": how,
              "meets_bar": row["meets_bar"]}
    res = {"schema": SCHEMA, "workload": workload, "workload_meta": meta, "bar": bar,
           "tolerance": tolerance, "layers": bases, "layers_total": baseline_total(bases),
           "sweep": rows, "chosen": chosen}
    if train:
        res["training"] = train_compare(G.EorsKnobs(chosen["mantissa_bits"], chosen["margin_lsb"]),
                                        iterations, batch, seeds, executor)
    res["seconds"] = time.time() - t0
    path = os.path.join(out, "eors_golden.json")
    try:
        os.makedirs(out, exist_ok=True)
        with open(path, "w") as f:
            json.dump(res, f, indent=1, default=_json_default)
    except OSError as exc:
        raise StudyError(f"cannot write {path!r}: {exc.strerror}") from None
    print_report(res)
    print(f"\nwrote {path} in {res['seconds']:.0f} s")
    return res


def _json_default(v):
    if isinstance(v, np.generic):
        return v.item()
    raise TypeError(f"not JSON serialisable: {type(v).__name__}")
