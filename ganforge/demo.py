"""``ganforge demo`` and ``ganforge workloads``: train the reference GANs and report.

The demo trains the DCGAN in the accelerator's bit-exact fixed-point
arithmetic (FP, EP and WG through :mod:`ganforge.golden`), and the same
network in float for reference, then writes to ``--out``:

* ``samples.png``: 64 generated digits (fixed point), beside those of the
  float-trained network and 64 real held-out digits;
* ``report.json``: the quality scores (fixed, float, the real digits' ceiling),
  the training losses and the per-layer sparsity;

and prints the scores and a per-layer sparsity table: FP input zeros, FP
output zeros (ReLU), EP input zeros (errors after the ReLU mask) and EP output
mask (outputs of the EP that the stored mask removes).
"""

import json
import os
import sys
import time

import numpy as np

from ganforge.errors import UserError
from ganforge.outputs import writable_folder

__all__ = ["run_demo", "run_workloads", "show_workload", "sparsity_table", "progress_bar", "save_grid"]


def progress_bar(desc):
    """A tqdm progress callback ``(i, n, info)`` for the training loops."""
    from tqdm import tqdm
    state = {}

    def update(i, n, info):
        if "bar" not in state:
            state["bar"] = tqdm(total=n, desc=desc, unit="it", file=sys.stderr,
                                dynamic_ncols=True, mininterval=0.5)
        bar = state["bar"]
        bar.update(1)
        if i % 20 == 0:
            bar.set_postfix({k: f"{v:.3f}" for k, v in info.items()}, refresh=False)
        if i == n - 1:
            bar.close()
    return update


def sparsity_table(layers):
    """Per-layer sparsity (fractions of zeros) of captured layers.

    Returns ``{layer: {fp_input, fp_output, ep_input, ep_output_mask}}``;
    an entry is None where it does not apply (no ReLU after the layer, no mask
    before it).
    """
    table = {}
    for name, rec in layers.items():
        row = {"fp_input": float(np.mean(rec["x"] == 0)),
               "fp_output": float(np.mean(~rec["mask"])) if rec.get("activation") == "relu" else None,
               "ep_input": float(np.mean(rec["dy"] == 0)) if "dy" in rec else None,
               "ep_output_mask": float(np.mean(~rec["in_mask"])) if "in_mask" in rec else None}
        table[name] = row
    return table


def _fmt_pct(v):
    return "     -" if v is None else f"{100 * v:5.1f}%"


def print_sparsity(table, out=sys.stdout):
    print(f"{'layer':8s} {'FP in 0':>8s} {'FP out 0':>9s} {'EP in 0':>8s} {'EP out mask':>12s}", file=out)
    for name, row in table.items():
        print(f"{name:8s} {_fmt_pct(row['fp_input']):>8s} {_fmt_pct(row['fp_output']):>9s} "
              f"{_fmt_pct(row['ep_input']):>8s} {_fmt_pct(row['ep_output_mask']):>12s}", file=out)


def save_grid(path, grids, titles):
    """Write a PNG of square grids of images ``[N, 1, H, W]`` in [-1, 1], side by side,
    each with its title (the first n² images of each grid, n = ⌊√N⌋)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(grids), figsize=(4.2 * len(grids), 4.6))
    axes = np.atleast_1d(axes)
    for ax, imgs, title in zip(axes, grids, titles):
        n = int(np.sqrt(len(imgs)))
        framed = np.pad(imgs[:n * n, 0], ((0, 0), (1, 1), (1, 1)), constant_values=0.0)  # grey frame
        tiles = framed.reshape(n, n, 18, 18).transpose(0, 2, 1, 3).reshape(18 * n, 18 * n)
        ax.imshow(tiles, cmap="gray", vmin=-1, vmax=1)
        ax.set_title(title, fontsize=10)
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def run_demo(args):
    from ganforge.golden.data import load_digits16
    from ganforge.golden.nn import Arith
    from ganforge.golden.score import DigitScorer
    from ganforge.golden.train import NZ, generate, train_dcgan
    from ganforge.golden.workloads import dcgan_workload

    iterations = args.iterations or (60 if args.quick else 1500)
    out_dir = args.out
    writable_folder(out_dir)
    t0 = time.time()
    data = load_digits16()
    scorer = DigitScorer(*data)
    ceiling = scorer.ceiling()
    print(f"data: {len(data[0])} real digits (scikit-learn), upscaled to 16x16; "
          f"scorer accuracy on held-out digits {100 * scorer.accuracy:.1f}%")
    z = np.random.default_rng(args.seed + 1000).normal(size=(1000, NZ))
    runs = [("fixed", Arith(fixed=True))] + ([] if args.no_float else [("float", Arith(fixed=False))])
    results = {}
    for label, ar in runs:
        res = train_dcgan(ar, iterations=iterations, seed=args.seed, data=data,
                          progress=progress_bar(f"train DCGAN ({label})"))
        imgs, _ = generate(res["G"], z, ar)
        results[label] = {"result": res, "images": imgs, "score": scorer.score(imgs)}

    fixed = results["fixed"]
    grids = [fixed["images"][:64]]
    titles = [f"fixed point (16-bit), score {fixed['score']:.2f}"]
    if "float" in results:
        grids.append(results["float"]["images"][:64])
        titles.append(f"float64 reference, score {results['float']['score']:.2f}")
    grids.append(scorer.held_out[:64])
    titles.append(f"real digits (held out), score {ceiling:.2f}")
    png = os.path.join(out_dir, "samples.png")
    save_grid(png, grids, titles)

    layers = dcgan_workload(fixed["result"]["G"], fixed["result"]["D"], Arith(fixed=True),
                            batch=64, seed=args.seed + 7)
    table = sparsity_table(layers)

    print()
    print("quality score (inception-like, 1..10), 1000 samples:")
    print(f"  fixed-point training : {fixed['score']:.3f}")
    report = {"iterations": iterations, "seed": args.seed, "score_fixed": fixed["score"],
              "score_ceiling_real": ceiling, "scorer_accuracy": scorer.accuracy,
              "sparsity": table,
              "losses_fixed": fixed["result"]["losses"].tolist()}
    if "float" in results:
        ratio = fixed["score"] / results["float"]["score"]
        print(f"  float training       : {results['float']['score']:.3f}")
        print(f"  fixed / float        : {100 * ratio:.1f}%  (bar: >= 90%)")
        report.update(score_float=results["float"]["score"], fixed_over_float=ratio)
    print(f"  real digits (ceiling): {ceiling:.3f}")
    print()
    print("per-layer sparsity of one fixed-point training step (batch 64), fraction of zeros:")
    print_sparsity(table)
    with open(os.path.join(out_dir, "report.json"), "w") as f:
        json.dump(report, f, indent=1)
    print()
    print(f"wrote {png} and {os.path.join(out_dir, 'report.json')} in {time.time() - t0:.0f} s")
    return 0


def run_workloads(args):
    from ganforge.golden.data import load_digits16
    from ganforge.golden.nn import Arith
    from ganforge.golden.score import DigitScorer
    from ganforge.golden.train import NZ, generate, train_dcgan, train_i2i
    from ganforge.golden.workloads import WORKLOAD_DIR, dcgan_workload, i2i_workload, save_workload

    out_dir = args.out or WORKLOAD_DIR
    writable_folder(out_dir)                 # before minutes of training
    data = load_digits16()
    ar = Arith(fixed=True)
    res = train_dcgan(ar, iterations=args.dcgan_iterations, data=data,
                      progress=progress_bar("train DCGAN (fixed)"))
    imgs, _ = generate(res["G"], np.random.default_rng(1000).normal(size=(1000, NZ)), ar)
    score = DigitScorer(*data).score(imgs)
    layers = dcgan_workload(res["G"], res["D"], ar)
    save_workload(os.path.join(out_dir, "dcgan.npz"), layers,
                  {"iterations": args.dcgan_iterations, "score": score})
    print(f"dcgan: score {score:.3f}; wrote {os.path.join(out_dir, 'dcgan.npz')}")
    res = train_i2i(ar, iterations=args.i2i_iterations, data=data,
                    progress=progress_bar("train image-to-image (fixed)"))
    layers = i2i_workload(res["net"], ar)
    l1 = float(np.mean(res["losses"][-50:]))
    save_workload(os.path.join(out_dir, "i2i.npz"), layers,
                  {"iterations": args.i2i_iterations, "l1": l1})
    print(f"i2i: final L1 {l1:.4f}; wrote {os.path.join(out_dir, 'i2i.npz')}")
    return 0


def show_workload(name):
    from ganforge.golden.workloads import load_workload
    try:
        layers, meta = load_workload(name)
    except FileNotFoundError as exc:
        raise UserError(str(exc))
    print(f"{name}: " + ", ".join(f"{k}={v}" for k, v in meta.items()))
    for lname, rec in layers.items():
        shape = rec["w"].shape if "w" in rec else rec["gamma"].shape
        print(f"  {lname:6s} {rec['op']:15s} x{tuple(rec['x'].shape)} "
              f"{'w' if 'w' in rec else 'gamma'}{tuple(shape)} act={rec.get('activation')}")
    print_sparsity(sparsity_table(layers))
    return 0
