#!/usr/bin/env python3
"""Quality of the device arithmetic against the float and today's fixed-point training:
``make device-quality``.

For each seed it trains, in the golden model:

* the DCGAN as ``make demo`` does (1500 steps, batch 64), in float, in the fixed-point
  arithmetic with host scaling and host Adam (``mode="host"``, the demo's) and in the device
  arithmetic (``mode="device"``), and scores 1000 samples with the demo's scorer
  (:class:`~ganforge.golden.score.DigitScorer`, latent vectors from seed ``seed + 1000``);
* the image-to-image generator (600 steps, batch 32) on the first 80 % of the digits, in
  the same three arithmetics, and measures its L1 on the held-out 20 % (each digit with an
  erased 6×6 square drawn from seed ``seed + 2000``), through the arithmetic it was trained in.

Each training is kept in ``OUT/runs/`` and reused by a later call with the same settings
(``--fresh`` retrains). The table and the bars of the device mode go to ``OUT/quality.json``
and stdout:

* DCGAN: the device score ≥ 95 % of the fixed-point score and ≥ 90 % of the float score;
* i2i: the device held-out L1 ≤ 105 % of the fixed-point L1.
"""

import json
import os
import sys
import time

# The layers' matrices are small: one BLAS thread per process is faster than several
# (and much faster on a shared machine). Set before NumPy loads BLAS; a user's setting wins.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

from ganforge.cli import ScriptParser, nonneg_int, number_in, positive_int  # noqa: E402
from ganforge.demo import progress_bar  # noqa: E402

PROG = "device_quality"
NETS = ("dcgan", "i2i")
MODES = ("float", "fixed", "device")
#: Extra modes, trained only when named in --runs: the device arithmetic with SGD + momentum.
EXTRA_MODES = ("device-sgdm",)


def _runs(text):
    import argparse
    out = []
    for item in text.split(","):
        net, _, mode = item.strip().partition(":")
        if net not in NETS or mode not in MODES + EXTRA_MODES or (net == "i2i" and mode in EXTRA_MODES):
            raise argparse.ArgumentTypeError(
                f"each run is NET:MODE with NET in {'/'.join(NETS)} and MODE in "
                f"{'/'.join(MODES)} (dcgan also device-sgdm), got {item.strip()!r}")
        out.append((net, mode))
    return out


def _arith(mode):
    from ganforge.golden.nn import Arith
    return Arith(fixed=(mode != "float"))


#: Learning rate of the SGD + momentum comparison (set from --sgdm-lr).
SGDM = {"lr": 0.05}


def _train_kwargs(mode):
    if mode == "device-sgdm":
        return {"mode": "device", "optimizer": "sgdm", "lr": SGDM["lr"]}
    return {"mode": "device"} if mode == "device" else {}


def _sample_kwargs(mode):
    return {"mode": "device"} if mode.startswith("device") else {}


def run_dcgan(mode, seed, iterations, data, scorer):
    """Train the DCGAN in ``mode``; returns ``{"score": ..., "seconds": ...}``."""
    from ganforge.golden.train import NZ, generate, train_dcgan
    ar = _arith(mode)
    t0 = time.time()
    res = train_dcgan(ar, iterations=iterations, seed=seed, data=data,
                      progress=progress_bar(f"DCGAN {mode} seed {seed}"), **_train_kwargs(mode))
    z = np.random.default_rng(seed + 1000).normal(size=(1000, NZ))
    imgs, _ = generate(res["G"], z, ar, **_sample_kwargs(mode))
    return {"score": scorer.score(imgs), "seconds": time.time() - t0,
            "final_losses": res["losses"][-50:].mean(axis=0).tolist(),
            "saturated_values": int(sum(res.get("saturations", {}).values()))}


def run_i2i(mode, seed, iterations, data, n_train):
    """Train the translator in ``mode`` on the first ``n_train`` digits; returns the held-out L1."""
    from ganforge.golden.data import corrupt
    from ganforge.golden.train import i2i_forward, train_i2i
    ar = _arith(mode)
    images, labels = data
    t0 = time.time()
    res = train_i2i(ar, iterations=iterations, seed=seed, data=(images[:n_train], labels[:n_train]),
                    progress=progress_bar(f"i2i {mode} seed {seed}"), **_train_kwargs(mode))
    clean = images[n_train:]
    src = corrupt(clean, np.random.default_rng(seed + 2000))
    l1 = []
    for i in range(0, len(clean), 64):
        out, _ = i2i_forward(res["net"], src[i:i + 64], ar, **_sample_kwargs(mode))
        l1.append(np.abs(out - clean[i:i + 64]).sum())
    return {"l1_held_out": float(np.sum(l1) / clean.size), "seconds": time.time() - t0,
            "final_train_l1": float(np.mean(res["losses"][-50:])),
            "saturated_values": int(sum(res.get("saturations", {}).values()))}


def _table(results, seeds):
    """The rows of the quality table: per seed and network, the three modes and the ratios."""
    rows = []
    for seed in seeds:
        for net, key in (("dcgan", "score"), ("i2i", "l1_held_out")):
            r = {m: results.get(f"{net}-{m}-s{seed}", {}).get(key) for m in MODES}
            if all(v is None for v in r.values()):
                continue
            row = {"seed": seed, "net": net, "metric": key, **r}
            if r["device"] is not None and r["fixed"] is not None:
                row["device_over_fixed"] = r["device"] / r["fixed"]
            if r["device"] is not None and r["float"] is not None:
                row["device_over_float"] = r["device"] / r["float"]
            if net == "dcgan" and "device_over_fixed" in row and "device_over_float" in row:
                row["bar_met"] = row["device_over_fixed"] >= 0.95 and row["device_over_float"] >= 0.90
            elif net == "i2i" and "device_over_fixed" in row:
                row["bar_met"] = row["device_over_fixed"] <= 1.05
            rows.append(row)
    if len(seeds) > 1:                      # the mean over the seeds that have all three runs
        for net, key in (("dcgan", "score"), ("i2i", "l1_held_out")):
            full = [r for r in rows if r["net"] == net and None not in (r["float"], r["fixed"], r["device"])]
            if not full:
                full = [r for r in rows if r["net"] == net and None not in (r["fixed"], r["device"])]
            if len(full) < 2:
                continue
            mean = {m: (None if any(r[m] is None for r in full) else
                        float(np.mean([r[m] for r in full]))) for m in MODES}
            row = {"seed": "mean", "net": net, "metric": key, **mean,
                   "device_over_fixed": mean["device"] / mean["fixed"]}
            if mean["float"] is not None:
                row["device_over_float"] = mean["device"] / mean["float"]
            rows.append(row)
    return rows


def _fmt(v, pct=False):
    if v is None:
        return "-"
    return f"{100 * v:.1f}%" if pct else f"{v:.4f}"


def print_table(rows, out=sys.stdout):
    print(f"{'net':6s} {'seed':>4s} {'metric':12s} {'float':>8s} {'fixed':>8s} {'device':>8s} "
          f"{'dev/fixed':>9s} {'dev/float':>9s}  bar", file=out)
    for r in rows:
        bar = {True: "met", False: "NOT met"}.get(r.get("bar_met"), "-")
        print(f"{r['net']:6s} {r['seed']!s:>4s} {r['metric']:12s} {_fmt(r['float']):>8s} "
              f"{_fmt(r['fixed']):>8s} {_fmt(r['device']):>8s} "
              f"{_fmt(r.get('device_over_fixed'), True):>9s} "
              f"{_fmt(r.get('device_over_float'), True):>9s}  {bar}", file=out)
    print("bars: DCGAN score device >= 95% of fixed and >= 90% of float; "
          "i2i held-out L1 device <= 105% of fixed", file=out)


def main(argv=None):
    p = ScriptParser(prog=PROG, description="Quality of the device arithmetic (delayed scaling, "
                     "fixed-point optimizer, integer tanh and loss gradients) against float and "
                     "host-scaled fixed-point training.")
    p.add_argument("--seeds", type=nonneg_int, nargs="+", default=[0, 1], help="seeds (default: 0 1)")
    p.add_argument("--iterations", type=positive_int, default=1500,
                   help="DCGAN training steps (default 1500, as make demo)")
    p.add_argument("--i2i-iterations", type=positive_int, default=600,
                   help="image-to-image training steps (default 600)")
    p.add_argument("--runs", type=_runs, default=[(n, m) for n in NETS for m in MODES],
                   help="comma-separated NET:MODE to train (default: all of dcgan/i2i × "
                        "float/fixed/device)")
    p.add_argument("--sgdm-lr", type=number_in(0, 4), default=0.05,
                   help="learning rate of the dcgan:device-sgdm comparison run (default 0.05)")
    p.add_argument("--out", default=os.path.join("build", "device"),
                   help="output folder (default build/device)")
    p.add_argument("--fresh", action="store_true", help="retrain runs already kept in OUT/runs")
    args = p.parse_args(argv)
    SGDM["lr"] = args.sgdm_lr
    runs_dir = os.path.join(args.out, "runs")
    try:
        os.makedirs(runs_dir, exist_ok=True)
    except OSError as exc:
        p.error(f"--out: cannot create {args.out!r}: {exc.strerror}")

    from ganforge.golden.data import load_digits16
    from ganforge.golden.score import DigitScorer
    data = load_digits16()
    scorer = DigitScorer(*data)
    n_train = int(0.8 * len(data[0]))
    results = {}
    for seed in args.seeds:
        for net, mode in args.runs:
            iters = args.iterations if net == "dcgan" else args.i2i_iterations
            key = f"{net}-{mode}-s{seed}"
            tail = f"-lr{args.sgdm_lr:g}" if mode == "device-sgdm" else ""
            path = os.path.join(runs_dir, f"{key}-it{iters}{tail}.json")
            if os.path.exists(path) and not args.fresh:
                with open(path) as f:
                    results[key] = json.load(f)
                continue
            if net == "dcgan":
                r = run_dcgan(mode, seed, iters, data, scorer)
            else:
                r = run_i2i(mode, seed, iters, data, n_train)
            r.update(net=net, mode=mode, seed=seed, iterations=iters)
            if mode == "device-sgdm":
                r["lr"] = args.sgdm_lr
            with open(path, "w") as f:
                json.dump(r, f, indent=1)
            results[key] = r
    rows = _table(results, args.seeds)
    report = {"iterations": args.iterations, "i2i_iterations": args.i2i_iterations,
              "seeds": args.seeds, "score_ceiling_real": scorer.ceiling(), "rows": rows,
              "runs": results}
    path = os.path.join(args.out, "quality.json")
    with open(path, "w") as f:
        json.dump(report, f, indent=1)
    print_table(rows)
    extra = {k: v for k, v in results.items() if v.get("mode") in EXTRA_MODES}
    for k, v in sorted(extra.items()):
        print(f"optimizer comparison: {k} (SGD + momentum 0.9, lr {v.get('lr')}): score {v['score']:.4f}")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
