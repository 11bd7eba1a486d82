"""How much of EORS's ideal speedup the core's lane balance leaves: a cost model, not a run.

For each ReLU layer of the saved ``dcgan`` workload, with the EORS prediction
of the given knobs as the output mask, a lane's work in a pass is the MACs of
its channel's kept outputs (input zeros skipped): ``W[n, c]``. The core runs
channel groups of ``--lanes`` lanes, sample by sample, and a pass lasts as
long as its busiest lane, so the model's cycles are ``Σ_n Σ_g max_{c∈g}
W[n, c]``. :func:`model` gives, per layer
(``scripts/eors_lane_balance.py`` prints them):

* ``natural``: groups of consecutive channels;
* ``balanced``: groups in ``balanced_channel_order`` (what the firmware runs);
* ``split``: one more pass per sample, the heaviest channels on two lanes
  each, their kept outputs cut by output rows into two halves of equal work;
* ``ideal``: ``Σ W / lanes``, every lane busy all the time.

Compare ``balanced`` with the measured ``cycles_core_eors`` of
``scripts/bench_eors.py --samples 0``: the model leaves out fill, drain and
loads, and the lanes' decoupling across passes.
"""

import numpy as np

from ganforge import golden as G
from ganforge.bench.eors_study import predict, relu_layers
from ganforge.firmware.compiler import balanced_channel_order
from ganforge.golden.workloads import load_workload

__all__ = ["kept_work", "grouped", "split_halves", "model"]


def kept_work(rec, mantissa_bits, margin_lsb, acc_width=36):
    """``([n, cout, H, W], keep)``: the MACs of each kept output (input zeros skipped), and
    the kept-output mask (not predicted zero)."""
    pred, _ = predict(rec, mantissa_bits, margin_lsb, acc_width)
    per_pos = G.taps_per_output(rec["x"], rec["w"].shape, int(rec["stride"]),
                                int(rec["padding"]), transposed=rec["op"] == "conv_transpose")
    return per_pos * ~pred, ~pred


def grouped(W, order, lanes):
    """Σ over samples and groups of ``order`` of the busiest lane's work."""
    return int(sum(W[:, order[g:g + lanes]].max(axis=1).sum() for g in range(0, len(order), lanes)))


def split_halves(Wpos, lanes):
    """One more pass per sample; the heaviest channels take two lanes each, cut by rows."""
    n, cout = Wpos.shape[:2]
    extra = lanes * (-(-cout // lanes) + 1) - cout
    heavy = set(np.argsort(-Wpos.sum(axis=(0, 2, 3)), kind="stable")[:extra].tolist())
    pieces = []                                     # per piece: [n] work
    for c in range(cout):
        rows = Wpos[:, c].sum(axis=2)               # [n, H]
        if c not in heavy:
            pieces.append(rows.sum(axis=1))
            continue
        cum = np.cumsum(rows, axis=1)
        cut = [int(np.searchsorted(cum[i], cum[i, -1] / 2)) + 1 for i in range(n)]
        first = np.array([cum[i, cut[i] - 1] for i in range(n)])
        pieces += [first, cum[:, -1] - first]
    P = np.stack(pieces, axis=1)                    # [n, pieces]
    order = np.argsort(-P.sum(axis=0), kind="stable")
    return grouped(P, order, lanes)


def model(mantissa_bits=2, margin_lsb=0, lanes=16, workload="dcgan"):
    """Per ReLU layer of ``workload`` (whole captured batch), the model's MAC cycles:
    ``[{"layer", "natural", "balanced", "split", "ideal"}]``."""
    layers, _ = load_workload(workload)
    rows = []
    for name, rec in relu_layers(layers).items():
        Wpos, keep = kept_work(rec, mantissa_bits, margin_lsb)
        W = Wpos.sum(axis=(2, 3))
        cout = W.shape[1]
        rows.append({"layer": name, "natural": grouped(W, np.arange(cout), lanes),
                     "balanced": grouped(W, balanced_channel_order(keep, cout), lanes),
                     "split": split_halves(Wpos, lanes), "ideal": float(W.sum() / lanes)})
    return rows
