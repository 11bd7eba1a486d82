"""EORS in the training path (golden/nn.py, golden/train.py)."""

import numpy as np
import pytest

from ganforge import golden as G
from ganforge.golden.data import load_digits16
from ganforge.golden.nn import Arith, ConvLayer, QT
from ganforge.golden.train import train_dcgan

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
