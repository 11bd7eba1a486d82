"""EORS in the training path (golden/nn.py, golden/train.py) and scripts/eors_study.py."""

import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from ganforge import golden as G
from ganforge.golden.data import load_digits16
from ganforge.golden.nn import Arith, ConvLayer, QT
from ganforge.golden.train import train_dcgan
from ganforge.golden.workloads import load_workload

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "eors_study.py"


@pytest.fixture(scope="module")
def digits():
    return load_digits16()


def _short(data, eors, iterations=4, batch=8):
    return train_dcgan(Arith(fixed=True), iterations=iterations, batch=batch, data=data, eors=eors)


@pytest.mark.parametrize("transposed", [False, True])
def test_layer_fp_with_eors_is_eors_fp_and_ep_uses_its_mask(transposed):
    """A ReLU layer's EORS FP equals eors_fp with the layer's own shift and margin·2**shift; its
    backward passes no error where EORS zeroed an output."""
    rng = np.random.default_rng(7)
    knobs = G.EorsKnobs(mantissa_bits=0, margin_lsb=2)
    layer = ConvLayer("L", 6, 8, 4, 2, 1, transposed=transposed, rng=rng, eors=knobs)
    layer.params["b"] = rng.normal(size=8) * 0.05
    ar = Arith(fixed=True)
    x = ar.from_float(np.maximum(rng.normal(size=(4, 6, 6, 6)), 0))
    y = layer.forward(x, ar)
    _, wq, mask = layer.cache
    shift = layer.record["shift"]
    bias = G.quantize(layer.params["b"], x.frac + wq.frac, 48)
    op = "conv_transpose" if transposed else "conv"
    ref_y, ref_mask, pred = G.eors_fp(x.q, wq.q, bias, 2, 1, shift, op=op, mantissa_bits=0,
                                      margin=2 << shift, acc_width=48)
    np.testing.assert_array_equal(y.q, ref_y)
    np.testing.assert_array_equal(mask, ref_mask)
    conv = G.conv_transpose2d if transposed else G.conv2d
    _, true_mask = G.output_stage(conv(x.q, wq.q, 2, 1), shift, 16, "relu", bias=bias)
    assert layer.eors_totals == G.eors_counts(pred, true_mask)
    assert layer.eors_totals["false_zero"] > 0          # mantissa_bits=0 does err on this layer
    dy = ar.from_float(rng.normal(size=y.q.shape))
    layer.backward(dy, ar)
    assert not np.any(layer.last_dpre.q[pred])
    np.testing.assert_array_equal(layer.last_dpre.q, np.where(mask, dy.q, 0))


def test_eors_option_is_refused_where_it_has_no_meaning():
    with pytest.raises(ValueError, match="ReLU"):
        ConvLayer("L", 2, 2, 3, activation="leaky_relu", eors=G.EorsKnobs())
    layer = ConvLayer("L", 2, 2, 3, eors=G.EorsKnobs())
    with pytest.raises(ValueError, match="fixed-point"):
        layer.forward(QT(np.ones((1, 2, 4, 4)), 0), Arith(fixed=False))
    with pytest.raises(ValueError, match="fixed-point"):
        train_dcgan(Arith(fixed=False), iterations=1, eors=G.EorsKnobs())


def test_safe_knobs_train_bit_identically(digits):
    """Knobs that cannot make a false zero give the exact training, loss for loss:
    mantissa_bits=15 with margin 0 (the estimate is the exact accumulator), and a margin
    beyond any estimate (nothing skipped)."""
    base = _short(digits, None)
    assert base["eors_totals"] == {}
    exact = _short(digits, G.EorsKnobs(mantissa_bits=15, margin_lsb=0))
    np.testing.assert_array_equal(exact["losses"], base["losses"])
    assert set(exact["eors_totals"]) == {"G1", "G2", "D1", "D2"}
    for c in exact["eors_totals"].values():
        assert c["false_zero"] == 0 and c["predicted_zero"] > 0
    never = _short(digits, G.EorsKnobs(mantissa_bits=0, margin_lsb=1 << 20))
    np.testing.assert_array_equal(never["losses"], base["losses"])
    assert all(c["predicted_zero"] == 0 for c in never["eors_totals"].values())


def test_exponent_only_eors_changes_training(digits):
    """mantissa_bits=0 makes false zeros, and they reach the losses."""
    base = _short(digits, None)
    res = _short(digits, G.EorsKnobs(mantissa_bits=0, margin_lsb=0))
    assert sum(c["false_zero"] for c in res["eors_totals"].values()) > 0
    assert not np.array_equal(res["losses"], base["losses"])
    for c in res["eors_totals"].values():                # 4 iterations: FP of D twice per step
        assert c["outputs"] > 0 and c["predicted_zero"] == c["caught_zero"] + c["false_zero"]


def test_leaky_discriminator_gets_no_eors(digits):
    res = train_dcgan(Arith(fixed=True), iterations=1, batch=4, data=digits,
                      d_activation="leaky_relu", eors=G.EorsKnobs())
    assert set(res["eors_totals"]) == {"G1", "G2"}


def _run(*args, timeout=600):
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def test_study_rates_match_the_golden_model(tmp_path):
    proc = _run("--no-train", "--mantissa-bits", "0", "2", "--margins-lsb", "0", "256",
                "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    res = json.loads((tmp_path / "eors_golden.json").read_text())
    assert set(res["layers"]) == {"G1", "G2", "D1", "D2"}
    assert len(res["sweep"]) == 4 and "training" not in res
    layers, _ = load_workload("dcgan")
    row = next(r for r in res["sweep"] if r["mantissa_bits"] == 2 and r["margin_lsb"] == 256)
    for name, e in row["layers"].items():
        rec = layers[name]
        margin = 256 << int(rec["shift"])
        pred = G.eors_predict(rec["x"], rec["w"], rec["bias"], rec["stride"], rec["padding"],
                              op=rec["op"], mantissa_bits=2, margin=margin)
        assert e["margin_acc"] == margin
        assert e["counts"] == G.eors_counts(pred, rec["mask"])
        work = (G.conv2d_work if rec["op"] == "conv" else G.conv_transpose2d_work)(
            rec["x"], rec["w"].shape, rec["stride"], rec["padding"], out_mask=~pred)
        assert e["effective_macs"] == work["effective"]
        assert e["ideal_speedup"] == pytest.approx(res["layers"][name]["effective_macs"]
                                                   / work["effective"])
    chosen = res["chosen"]
    if chosen["meets_bar"]:
        best = next(r for r in res["sweep"] if r["mantissa_bits"] == chosen["mantissa_bits"]
                    and r["margin_lsb"] == chosen["margin_lsb"])
        assert all(e["rates"]["false_zero_rate"] <= res["bar"] for e in best["layers"].values())
    assert "chosen knobs" in proc.stdout and "false-zero" in proc.stdout


def test_study_short_training(tmp_path):
    proc = _run("--mantissa-bits", "1", "--margins-lsb", "64", "--knobs", "1", "64",
                "--iterations", "3", "--batch", "8", "--seeds", "5", "--jobs", "2",
                "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    t = json.loads((tmp_path / "eors_golden.json").read_text())["training"]
    assert t["knobs"] == {"mantissa_bits": 1, "margin_lsb": 64}
    assert [r["seed"] for r in t["runs"]] == [5] and t["jobs"] == 2
    for r in t["runs"]:
        assert 1.0 <= r["score_off"] <= 10.0 and 1.0 <= r["score_on"] <= 10.0
        assert r["score_ratio"] == pytest.approx(r["score_on"] / r["score_off"])
        assert set(r["eors_totals"]) == {"G1", "G2", "D1", "D2"}
        # 3 steps; per step G runs FP twice on 8 samples, D once on 8 + 8 and once on 8
        assert r["eors_totals"]["G1"]["counts"]["outputs"] == 3 * 2 * 8 * 64 * 4 * 4
        assert r["eors_totals"]["D1"]["counts"]["outputs"] == 3 * (16 + 8) * 32 * 8 * 8
    assert t["score_ratio_of_means"] == pytest.approx(t["score_on_mean"] / t["score_off_mean"])


@pytest.mark.parametrize("args, text", [
    (["--workload", "nonexistent"], "no workload"),
    (["--workload", "i2i", "--no-train"], "no ReLU conv layers"),
    (["--mantissa-bits", "16"], "0..15"),
    (["--iterations", "0"], "positive"),
    (["--bar", "2"], "fractions"),
])
def test_study_errors_are_one_line(args, text):
    proc = _run(*args)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("eors_study: error:")
    assert text in proc.stderr


@pytest.mark.slow
def test_training_with_eors_keeps_the_quality_score(tmp_path):
    """The issue's bar: the DCGAN trained with EORS on (the study's chosen knobs, make demo's
    1500 iterations) scores within 5 % of the same training without EORS. One seed's score
    moves by several per cent with the seed alone (docs/eors.md), so the bar is taken on
    the mean score over seeds 0 and 1 (four trainings of about 8 min each on an idle core;
    two hours or more on a loaded machine)."""
    proc = _run("--jobs", "2", "--seeds", "0", "1", "--out", str(tmp_path), timeout=6 * 3600)
    assert proc.returncode == 0, proc.stderr
    res = json.loads((tmp_path / "eors_golden.json").read_text())
    assert res["chosen"]["meets_bar"]
    assert res["training"]["score_ratio_of_means"] >= 0.95, res["training"]
