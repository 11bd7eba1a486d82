"""The retraining study (issue 15): ``make retrain-demo`` (``scripts/retrain_demo.py``).

A translator pretrained on the digits meets a user's hand and is retrained on the user's
data, in the device arithmetic of the golden model (:mod:`ganforge.golden.retrain`):

1. **Pretrain** the image-to-image generator (:func:`~ganforge.golden.train.train_i2i`,
   ``mode="device"``) on the first 80 % of the digits, as ``make device-quality`` does.
2. **The user's data**: the other 20 % of the digits (never seen in pretraining) in the
   user's hand (:func:`~ganforge.golden.retrain.user_style`: thicker strokes, italic
   slant). The first ``user_train`` of them, each with ``copies`` fixed erasures, are the
   retraining set; the rest, with 2 erasures each, are held out for the quality.
3. **Full retraining**: every layer, ``full_steps`` steps (750 of 32: 100 epochs of the
   240 pairs, as Kim et al. retrain for 100 epochs). Its MACs are the reference.
4. **SELRET** (:mod:`ganforge.firmware.schedule.selret`): one probe step, the rule picks
   the layers, and the steps are what ``budget`` × the full retraining's MACs pays for,
   the probe and the frozen prefix included. Then the rule at the other coverages of
   :data:`SWEEP` (when they pick other layers), at the same compute, and SELRET again
   with its batches drawn in another order (the scale of run-to-run differences).
5. **Baselines at SELRET's compute**: as many layers as SELRET took, chosen by Kim et
   al.'s published rule (the largest relative weight change after ``kim_steps`` steps of
   full retraining, whose MACs it pays), the last ones, the first ones, three random
   draws; each runs the steps SELRET's total MACs pay for.

Compute is the golden work counters' effective MACs (what the sparse cores issue);
quality is the L1 on the held-out user pairs. The *gain* of a method is the pretrained
network's held-out L1 minus the method's.
"""

import copy
import json
import os
import pickle
import sys
import time

import numpy as np

#: Other coverages the study runs SELRET's rule at (when they pick other layers).
SWEEP = (0.5, 0.75, 1.0)

__all__ = ["SWEEP", "Study", "run_study", "table_lines", "bars", "retrain_on_rtl", "rtl_section",
           "rtl_lines"]


class Study:
    """The study's settings (see the module docstring); every field has its default."""

    def __init__(self, seed=0, pretrain_steps=600, full_steps=750, budget=0.30, batch=32,
                 lr=1e-3, coverage=None, floor=None, user_train=240, copies=1, probe_batch=64,
                 thickness=1, slant=0.3, kim_steps=10, out=os.path.join("build", "retrain")):
        from ganforge.firmware.schedule.selret import COVERAGE, FLOOR
        self.seed, self.pretrain_steps, self.full_steps = seed, pretrain_steps, full_steps
        self.budget, self.batch, self.lr = budget, batch, lr
        self.coverage = COVERAGE if coverage is None else coverage
        self.floor = FLOOR if floor is None else floor
        self.user_train, self.copies, self.probe_batch = user_train, copies, probe_batch
        self.thickness, self.slant, self.out = thickness, slant, out
        self.kim_steps = kim_steps

    def as_dict(self):
        return dict(vars(self))


def _say(text):
    print(f"retrain-demo: {text}", file=sys.stderr, flush=True)


def _pretrained(st, images, labels, n_train, progress):
    """The pretrained device-mode translator, kept in ``OUT/pretrained-s{seed}-it{n}.pkl``."""
    from ganforge.golden.nn import Arith
    from ganforge.golden.train import train_i2i
    path = os.path.join(st.out, f"pretrained-s{st.seed}-it{st.pretrain_steps}.pkl")
    if os.path.exists(path):
        with open(path, "rb") as f:
            return pickle.load(f)
    net = train_i2i(Arith(), iterations=st.pretrain_steps, batch=32, seed=st.seed,
                    data=(images[:n_train], labels[:n_train]), mode="device",
                    progress=progress("pretrain on the digits"))["net"]
    with open(path, "wb") as f:
        pickle.dump(net, f)
    return net


def _run(st, base, train, held, layers, steps, progress, label, order=7):
    """Retrain a copy of ``base`` (batches drawn with ``seed + order``); returns its row and
    the network."""
    from ganforge.golden import retrain as R
    net = copy.deepcopy(base)
    counter = R.WorkCounter().attach(net)
    t0 = time.time()
    losses = R.retrain(net, train, layers, steps, batch=st.batch, lr=st.lr, seed=st.seed + order,
                       counter=counter, progress=progress(label) if steps else None)
    row = {"method": label, "layers": list(layers), "steps": int(steps),
           "macs": counter.total(), "macs_by_phase": counter.by_phase(),
           "l1": R.held_out_l1(net, held), "train_l1_end": float(np.mean(losses[-20:])),
           "seconds": time.time() - t0}
    return row, net


def run_study(st, progress):
    """Run the study; returns the report (also written to ``OUT/retrain.json``) and
    ``{"pretrained", "selret", "full"}`` (the networks), ``"train"`` and ``"held"`` (the
    user's pairs). ``progress(label)`` gives a per-step callback (or None)."""
    from ganforge.firmware.schedule import selret as S
    from ganforge.golden import retrain as R
    from ganforge.golden.data import load_digits16
    images, labels = load_digits16()
    n_train = int(0.8 * len(images))
    base = _pretrained(st, images, labels, n_train, progress)
    user = images[n_train:]
    style = R.user_style(user, st.thickness, st.slant)
    if not 0 < st.user_train < len(user):
        raise ValueError(f"user_train must be in 1..{len(user) - 1}, got {st.user_train}")
    train = R.user_pairs(style[:st.user_train], seed=st.seed + 5, copies=st.copies)
    held = R.user_pairs(style[st.user_train:], seed=st.seed + 6, copies=2)
    held_own = R.user_pairs(user[st.user_train:], seed=st.seed + 6, copies=2)
    before = R.held_out_l1(base, held)
    report = {"settings": st.as_dict(), "user_pairs": len(train[0]), "held_out_pairs": len(held[0]),
              "pretrained": {"l1_user": before, "l1_digits": R.held_out_l1(base, held_own)}}
    _say(f"pretrained: held-out L1 {report['pretrained']['l1_digits']:.4f} on the digits, "
         f"{before:.4f} in the user's hand")

    # the probe: one step of the whole network, no update
    probe_net = copy.deepcopy(base)
    counter = R.WorkCounter().attach(probe_net)
    R.probe(probe_net, train, batch=st.probe_batch, seed=st.seed + 9)
    costs = S.Costs.from_counter(probe_net, counter, st.probe_batch)
    drop = S.first_order_drop(probe_net)
    sel = S.select(costs, drop, st.coverage, st.floor)
    probe_macs = counter.total()
    report["probe"] = {"macs": probe_macs, "drop": drop,
                       "order": [{"layer": n, "drop": d, "added_macs_per_sample": a}
                                 for n, d, a in sel.order],
                       "coverage": sel.coverage, "selected": sel.layers,
                       "costs_per_sample": {"FP": costs.fp, "EP": costs.ep, "WG": costs.wg}}
    _say(f"SELRET selects {', '.join(sel.layers)} ({100 * sel.coverage:.0f} % of the first-order drop)")

    rows = []
    full, full_net = _run(st, base, train, held, costs.params, st.full_steps, progress,
                          "full retraining")
    rows.append(full)
    samples = len(train[0])

    def steps_for(layers, macs):
        left = macs - costs.prefix(layers, samples)
        return max(0, int(left // costs.step(layers, st.batch)))

    budget = st.budget * full["macs"]
    row, sel_net = _run(st, base, train, held, sel.layers, steps_for(sel.layers, budget - probe_macs),
                        progress, "SELRET")
    row["macs"] += probe_macs
    row["macs_by_phase"]["probe"] = probe_macs
    rows.append(row)
    # the same retraining with the batches drawn in another order: how far apart two runs
    # of one method land, the scale on which the rows below differ or not
    again, _ = _run(st, base, train, held, sel.layers, row["steps"], progress,
                    "SELRET, other order", order=8)
    again["macs"] += probe_macs
    report["order_noise"] = abs(again["l1"] - row["l1"])
    # the rule at other coverages, at the same compute: what the knob trades
    seen = [sorted(sel.layers)]
    for c in SWEEP:
        other = S.select(costs, drop, c, st.floor)
        if sorted(other.layers) in seen:
            continue
        seen.append(sorted(other.layers))
        r, _ = _run(st, base, train, held, other.layers,
                    steps_for(other.layers, budget - probe_macs), progress,
                    f"SELRET at {100 * c:.0f} %")
        r["macs"] += probe_macs
        r["sweep"] = True
        rows.append(r)
    # Kim et al.'s published rule: a short full retraining, the layers that changed most
    kim_probe, kim_net = _run(st, base, train, held, costs.params, st.kim_steps, lambda _: None,
                              "relative change probe", order=9)
    change = S.relative_change(base, kim_net)
    kim_layers = S.top_changed(change, len(sel.layers), costs.names)
    report["relative_change"] = {"steps": st.kim_steps, "macs": kim_probe["macs"],
                                 "change": change, "selected": kim_layers}
    r, _ = _run(st, base, train, held, kim_layers,
                steps_for(kim_layers, row["macs"] - kim_probe["macs"]), progress,
                "relative change")
    r["macs"] += kim_probe["macs"]
    r["macs_by_phase"]["probe"] = kim_probe["macs"]
    rows.append(r)
    for name, layers in S.baseline_sets(costs, len(sel.layers), seed=st.seed).items():
        if sorted(layers) == sorted(sel.layers):
            _say(f"baseline {name} is SELRET's own set")
        r, _ = _run(st, base, train, held, layers, steps_for(layers, row["macs"]), progress,
                    f"{name} layers" if not name.startswith("random") else name)
        rows.append(r)
    rows.append(again)
    full["gain"] = before - full["l1"]
    for r in rows:
        r["gain"] = before - r["l1"]
        r["gain_vs_full"] = r["gain"] / full["gain"]
        r["compute_vs_full"] = r["macs"] / full["macs"]
    report["rows"] = rows
    report["bars"] = bars(rows, report["order_noise"])
    with open(os.path.join(st.out, "retrain.json"), "w") as f:
        json.dump(report, f, indent=1)
    return report, {"pretrained": base, "selret": sel_net, "full": full_net, "held": held,
                    "train": train}


#: The issue's baselines (rows of these names); Kim et al.'s published rule is a comparison.
BASELINES = ("last layers", "first layers", "random 1", "random 2", "random 3")


def bars(rows, noise=0.0):
    """The issue's bars from the rows: SELRET's compute cut, its gain against full
    retraining's, and whether it beats every baseline (last, first, random layers) at its
    compute, and by more than ``noise`` (the L1 distance between two orders of batches).
    Kim et al.'s rule is reported beside: ``kim_same_layers``, ``kim_l1_minus_selret``."""
    by = {r["method"]: r for r in rows}
    sel, full = by["SELRET"], by["full retraining"]
    base = [by[m] for m in BASELINES if m in by]
    out = {"compute_cut": 1.0 - sel["macs"] / full["macs"],
           "compute_cut_met": sel["macs"] <= 0.31 * full["macs"],
           "gain_vs_full": sel["gain_vs_full"],
           "gain_met": sel["gain_vs_full"] >= 0.95,
           "beats_baselines": bool(base) and all(sel["l1"] < r["l1"] for r in base),
           "margin": min(r["l1"] for r in base) - sel["l1"] if base else None,
           "noise": noise,
           "best_baseline": min(base, key=lambda r: r["l1"])["method"] if base else None}
    if "relative change" in by:
        kim = by["relative change"]
        out["kim_same_layers"] = sorted(kim["layers"]) == sorted(sel["layers"])
        out["kim_l1_minus_selret"] = kim["l1"] - sel["l1"]
    return out


def table_lines(report):
    rows = report["rows"]
    yield (f"{'method':20s} {'layers':38s} {'steps':>5s} {'GMAC':>7s} {'of full':>7s} "
           f"{'L1':>7s} {'gain':>7s} {'of full':>7s}")
    p = report["pretrained"]
    yield f"{'pretrained':20s} {'(none)':38s} {0:5d} {0:7.2f} {'-':>7s} {p['l1_user']:7.4f} {0:7.4f} {'-':>7s}"
    for r in rows:
        yield (f"{r['method']:20s} {','.join(r['layers']):38s} {r['steps']:5d} "
               f"{r['macs'] / 1e9:7.2f} {100 * r['compute_vs_full']:6.1f}% {r['l1']:7.4f} "
               f"{r['gain']:7.4f} {100 * r['gain_vs_full']:6.1f}%")
    if "order_noise" in report:
        yield (f"the same SELRET retraining with its batches in another order lands "
               f"{report['order_noise']:.4f} away in L1: smaller differences are noise")
    b = bars(report["rows"], report.get("order_noise", 0.0))
    yield (f"bars: compute cut {100 * b['compute_cut']:.1f} % (>= 69 %: "
           f"{'met' if b['compute_cut_met'] else 'NOT met'}); gain {100 * b['gain_vs_full']:.1f} % "
           f"of full retraining's (>= 95 %: {'met' if b['gain_met'] else 'NOT met'}); beats every "
           f"baseline (last, first, random layers) at equal compute: "
           f"{'yes' if b['beats_baselines'] else 'NO'} (best baseline: {b['best_baseline']}, "
           f"{b['margin']:+.4f} L1 behind SELRET; batch-order noise {b['noise']:.4f})")
    if "kim_same_layers" in b:
        yield (f"Kim et al.'s relative-change rule "
               f"{'picks the same layers' if b['kim_same_layers'] else 'picks other layers'}; "
               f"its L1 is {b['kim_l1_minus_selret']:+.5f} from SELRET's")


def retrain_on_rtl(st, base, pairs, trainable, *, config="small", steps=1, batch=2,
                   sim="verilator", quiet=False, build_root=os.path.join("build", "sim")):
    """Run ``steps`` retraining steps of ``base`` on ``pairs`` with the ``trainable`` layers
    on the simulated System of preset ``config``: every convolution's FP, EP and WG a
    program (:func:`~ganforge.testbench.run_retrain_steps`), the parameters checked
    against the golden retraining. Returns the bench's result with ``lanes``, ``cores``,
    ``bus_bytes``, ``seconds``, and each program's ``part``: ``"prefix"`` (the frozen
    layers' FP, once per pair) or ``"step"``."""
    import tempfile
    from ganforge.bench import Follow
    from ganforge.bench.system import _progress_bar
    from ganforge.config import get_preset, system_from_config
    from ganforge.golden.retrain import lowest_trainable
    from ganforge.outputs import save_npz
    from ganforge.testbench import run_retrain_steps
    cfg = get_preset(config)
    system = system_from_config(cfg)
    folder = os.path.join(st.out, "rtl")
    os.makedirs(folder, exist_ok=True)
    net_path, pairs_path = os.path.join(folder, "pretrained.pkl"), os.path.join(folder, "pairs.npz")
    with open(net_path, "wb") as f:
        pickle.dump(base, f)
    save_npz(pairs_path, {"src": pairs[0], "clean": pairs[1]})
    lowest = lowest_trainable(base, trainable)
    prefix = {layer.name for layer in base.layers[:lowest]}
    convs = [layer for layer in base.layers if hasattr(layer, "device")]
    total = (sum(1 for layer in convs if layer.name in prefix)
             + steps * sum(1 + (i > lowest) + (layer.name in trainable)
                           for i, layer in enumerate(base.layers)
                           if hasattr(layer, "device") and i >= lowest))
    fd, log_path = tempfile.mkstemp(prefix="retrain-rtl-", suffix=".log")
    os.close(fd)
    bar, show = _progress_bar(total, f"retrain on {config} ({sim})", quiet)
    start = time.monotonic()
    try:
        with Follow(log_path, show):
            res = run_retrain_steps(system, pretrained=net_path, pairs=pairs_path,
                                    trainable=trainable, steps=steps, batch=batch,
                                    seed=st.seed + 7, lr=st.lr, sim=sim, build_root=build_root,
                                    log_file=log_path)
    finally:
        if bar is not None:
            bar.close()
    os.unlink(log_path)
    for e in res["programs"]:
        e["part"] = "prefix" if e["layer"] in prefix else "step"
    res.update(lanes=system["cores"] * cfg.lanes_per_core, cores=system["cores"],
               bus_bytes=cfg.axi_data_width // 8, config=config, sim=sim, pairs=len(pairs[0]),
               seconds=round(time.monotonic() - start, 1))
    return res


def _cycles(res, part):
    return sum(e["cycles"] for e in res["programs"] if e["part"] == part)


def _macs(res, part):
    return sum(v for e in res["programs"] if e["part"] == part
               for k, v in e["counters"].items() if k.endswith(".macs_issued"))


def rtl_section(st, report, base, train, *, config="small", sim="verilator", batch=2, pairs=4,
                quiet=False):
    """One retraining step of SELRET's layers and one of the full retraining on the RTL
    (:func:`retrain_on_rtl`, the first ``pairs`` user pairs, ``batch`` samples), each
    bit-exact against the golden retraining, and the demo's retraining time from their
    cycles. Adds ``report["rtl"]`` and returns it.

    The time is extrapolated from the measured cycles, linearly in the samples: a step's
    cycles per sample × the samples of the study's steps, plus the prefix's cycles per
    pair × the user's pairs (the weights a step loads once are then counted once per
    sample: an upper bound)."""
    sel = next(r for r in report["rows"] if r["method"] == "SELRET")
    full = next(r for r in report["rows"] if r["method"] == "full retraining")
    sub = (train[0][:pairs], train[1][:pairs])
    out = {"config": config, "sim": sim, "batch": batch, "pairs": pairs, "runs": {}}
    for name, row in (("SELRET", sel), ("full retraining", full)):
        res = retrain_on_rtl(st, base, sub, row["layers"], config=config, steps=1, batch=batch,
                             sim=sim, quiet=quiet)
        run = {"equal": res["equal"], "programs": len(res["programs"]), "lanes": res["lanes"],
               "step_cycles": _cycles(res, "step"), "step_macs": _macs(res, "step"),
               "prefix_cycles": _cycles(res, "prefix"), "prefix_macs": _macs(res, "prefix"),
               "seconds": res["seconds"]}
        run["step_ideal"] = run["step_macs"] / res["lanes"]
        samples = row["steps"] * st.batch
        run["study_cycles"] = (run["step_cycles"] / batch * samples
                               + run["prefix_cycles"] / pairs * report["user_pairs"])
        run["study_macs"] = row["macs"]
        out["runs"][name] = run
    report["rtl"] = out
    with open(os.path.join(st.out, "retrain.json"), "w") as f:
        json.dump(report, f, indent=1)
    return out


#: Kim et al.'s GAN training accelerator (A-SSCC 2020, Cyclone V): 51 GFLOPS peak, that is
#: 25.5 G multiply-accumulates a second; their demo retrains 100 epochs of 256×256 in 30 s.
KIM_GMACS = 51 / 2

#: Clocks the retraining time is given at: a stated 100 MHz, and the ECP5 Fmax
#: ``scripts/timing.py`` measured for the ``tiny`` core (the small preset's is not measured).
CLOCKS_MHZ = {"stated": 100.0, "tiny core ECP5 Fmax": 29.53}


def rtl_lines(rtl):
    yield (f"on the RTL ({rtl['config']}, {rtl['sim']}): one step of batch {rtl['batch']} on "
           f"{rtl['pairs']} user pairs, every convolution op a program")
    yield (f"{'method':16s} {'programs':>8s} {'step cycles':>11s} {'MAC ideal':>9s} "
           f"{'prefix cycles':>13s} {'equal':>5s} {'100-epoch job':>13s}")
    for name, r in rtl["runs"].items():
        times = ", ".join(f"{r['study_cycles'] / (mhz * 1e6):.1f} s at {mhz:g} MHz"
                          for mhz in CLOCKS_MHZ.values())
        yield (f"{name:16s} {r['programs']:8d} {r['step_cycles']:11d} {r['step_ideal']:9.0f} "
               f"{r['prefix_cycles']:13d} {str(r['equal']):>5s} {r['study_cycles'] / 1e6:10.1f} M"
               f"  ({times})")
    for name, r in rtl["runs"].items():
        yield (f"{name}: the job's {r['study_macs'] / 1e9:.1f} G MACs would take "
               f"{r['study_macs'] / (KIM_GMACS * 1e9):.2f} s at Kim et al.'s peak "
               f"({KIM_GMACS:g} G MAC/s)")
