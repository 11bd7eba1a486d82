#!/usr/bin/env python3
"""Retrain a pretrained translator on a user's hand, with SELRET and its baselines:
``make retrain-demo``.

Runs :func:`ganforge.bench.retrain.run_study` (the golden model, device arithmetic; about
10 minutes on one core, the pretraining kept in OUT for the next run), prints the table and
the bars, then one retraining step of SELRET's layers and one of the full retraining on
the simulated RTL (``--rtl``, bit-exact against the golden retraining; about 15 minutes on
Verilator), and writes ``OUT/retrain.json`` and ``OUT/before_after.png``: the user's
held-out inputs, the pretrained network's restorations, SELRET's, the full retraining's,
and the targets.
"""

import os
import sys

# The layers' matrices are small: one BLAS thread per process is faster than several.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from ganforge.cli import ScriptParser, nonneg_int, number_in, positive_int  # noqa: E402
from ganforge.errors import UserError  # noqa: E402
from ganforge.outputs import writable_folder  # noqa: E402

PROG = "retrain-demo"
_share = number_in(0, 1, lo_closed=True)             # [0, 1)
_fraction = number_in(0, 1, hi_closed=True)          # (0, 1]


def main(argv=None):
    from ganforge.bench.retrain import Study
    d = Study()
    p = ScriptParser(prog=PROG, description="Retrain a pretrained image-to-image generator on "
                     "a user's hand: SELRET against full retraining and baselines at equal "
                     "compute, in the golden model's device arithmetic.")
    p.add_argument("--seed", type=nonneg_int, default=d.seed, help=f"seed (default {d.seed})")
    p.add_argument("--pretrain-steps", type=positive_int, default=d.pretrain_steps,
                   help=f"pretraining steps on the digits (default {d.pretrain_steps})")
    p.add_argument("--full-steps", type=positive_int, default=d.full_steps,
                   help=f"steps of the full retraining (default {d.full_steps})")
    p.add_argument("--budget", type=_fraction, default=d.budget,
                   help=f"SELRET's MACs as a share of the full retraining's (default {d.budget})")
    p.add_argument("--coverage", type=_fraction, default=d.coverage,
                   help="share of the probe's first-order drop the selected layers carry "
                        f"(default {d.coverage:g})")
    p.add_argument("--floor", type=_share, default=d.floor,
                   help="share of the first-order drop under which a layer stays frozen "
                        f"(default {d.floor:g})")
    p.add_argument("--lr", type=number_in(0, 1), default=d.lr, help=f"Adam's step (default {d.lr:g})")
    p.add_argument("--out", default=d.out, help=f"output folder (default {d.out})")
    p.add_argument("--rtl", choices=("verilator", "icarus", "none"), default="verilator",
                   help="simulator of the retraining step on the RTL (one step of SELRET's layers "
                        "and one of the full retraining on --config; 'none' skips it; default "
                        "verilator)")
    p.add_argument("--config", default="small",
                   help="preset of the accelerator the RTL step runs on (default small)")
    p.add_argument("--show", metavar="JSON",
                   help="print the tables of an earlier run's retrain.json and stop")
    args = p.parse_args(argv)
    if args.show:
        import json
        from ganforge.bench.retrain import rtl_lines, table_lines
        try:
            with open(args.show) as f:
                report = json.load(f)
            lines = list(table_lines(report)) + (list(rtl_lines(report["rtl"])) if "rtl" in report else [])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            p.error(f"--show: cannot read {args.show!r}: {exc}")
        print("\n".join(lines))
        return 0
    from ganforge.config import PRESETS
    if args.config not in PRESETS:
        p.error(f"--config: unknown preset {args.config!r} (one of {', '.join(sorted(PRESETS))})")
    if args.rtl != "none":
        from ganforge.testbench import require_simulator
        try:
            require_simulator(args.rtl)
        except Exception as exc:           # the simulator's own one-line reason
            p.error(f"--rtl {args.rtl}: {exc}")
    try:
        writable_folder(args.out)
    except UserError as exc:
        p.error(str(exc))
    from ganforge.bench.retrain import run_study, table_lines
    from ganforge.demo import progress_bar, save_grid
    st = Study(seed=args.seed, pretrain_steps=args.pretrain_steps, full_steps=args.full_steps,
               budget=args.budget, coverage=args.coverage, floor=args.floor, lr=args.lr,
               out=args.out)
    report, nets = run_study(st, progress_bar)
    for line in table_lines(report):
        print(line)
    if args.rtl != "none":
        from ganforge.bench.retrain import rtl_lines, rtl_section
        rtl = rtl_section(st, report, nets["pretrained"], nets["train"], config=args.config,
                          sim=args.rtl)
        for line in rtl_lines(rtl):
            print(line)
    from ganforge.golden.train import i2i_forward
    from ganforge.golden.nn import Arith
    src, clean = nets["held"]
    src, clean = src[:36], clean[:36]
    grids = [src] + [i2i_forward(nets[k], src, Arith(), mode="device")[0]
                     for k in ("pretrained", "selret", "full")] + [clean]
    png = os.path.join(args.out, "before_after.png")
    save_grid(png, grids, ["the user's input", "pretrained", "after SELRET",
                           "after full retraining", "target"])
    print(f"wrote {png} and {os.path.join(args.out, 'retrain.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
