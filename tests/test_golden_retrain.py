"""Retraining with frozen layers (issue 15's mechanism, golden half): frozen layers run no
WG, nothing runs below the lowest trainable layer, the frozen prefix is computed once, and
none of this changes the trained parameters against the plain step that does all the work."""

import copy

import numpy as np
import pytest

from ganforge.golden import device_math as DM
from ganforge.golden import retrain as R
from ganforge.golden.data import load_digits16
from ganforge.golden.device_optim import FixedAdam
from ganforge.golden.fixed import quantize
from ganforge.golden.nn import Arith, QT, Sequential
from ganforge.golden.ops import work_counts
from ganforge.golden.train import train_i2i

AR = Arith()


@pytest.fixture(scope="module")
def digits():
    return load_digits16()


@pytest.fixture(scope="module")
def pretrained(digits):
    """A device-mode translator after a few steps (its scaling measured)."""
    images, labels = digits
    return train_i2i(AR, iterations=3, batch=8, seed=0, data=(images[:200], labels[:200]),
                     mode="device")["net"]


def _pairs(digits, n=24, seed=3):
    return R.user_pairs(R.user_style(digits[0][-n:]), seed=seed)


def _reference(net, pairs, trainable, steps, batch, seed):
    """The plain way: every step runs the whole network forward (the prefix's scaling
    frozen), the whole backward with every WG and EP, then updates only ``trainable``."""
    from ganforge.golden.retrain import lowest_trainable
    lowest = lowest_trainable(net, trainable)
    prefix, suffix = Sequential(net.layers[:lowest]), Sequential(net.layers[lowest:])
    opt = FixedAdam(net, 1e-3, beta1=0.9, layers=set(trainable))
    sq, cq = quantize(pairs[0], DM.TANH_FRAC, 16), quantize(pairs[1], DM.TANH_FRAC, 16)
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        sel = rng.integers(0, len(sq), size=batch)
        x = QT(sq[sel], DM.TANH_FRAC)
        if prefix.layers:
            net.scaler.frozen = True
            x = prefix.forward(x, AR)
            net.scaler.frozen = False
        pre = suffix.forward(x, AR)
        out = DM.tanh_fixed(pre.q, pre.frac)
        dl, fdl = DM.l1_loss_grad(out, cq[sel], width=16)
        net.backward(QT(dl, fdl), AR)               # all the work, nothing skipped
        opt.step()
    return net


def _params(net):
    return {(layer.name, k): np.array(v) for layer in net.layers for k, v in layer.params.items()}


@pytest.mark.parametrize("trainable", [["T4", "T4.in", "T5"], ["T3", "T5"], ["T1", "T2.in"]])
def test_skipping_the_frozen_work_changes_no_parameter(digits, pretrained, trainable):
    pairs = _pairs(digits)
    fast = copy.deepcopy(pretrained)
    counter = R.WorkCounter().attach(fast)
    R.retrain(fast, pairs, trainable, steps=3, batch=6, seed=4, counter=counter)
    slow = _reference(copy.deepcopy(pretrained), pairs, trainable, steps=3, batch=6, seed=4)
    before, after, ref = _params(pretrained), _params(fast), _params(slow)
    for key in before:
        assert np.array_equal(after[key], ref[key]), key
        if key[0] not in trainable:
            assert np.array_equal(after[key], before[key]), f"frozen {key} changed"
    assert any(not np.array_equal(after[k], before[k]) for k in before if k[0] in trainable)
    # the work: WG only of trainable layers; nothing below the lowest trainable layer but
    # the prefix's FP, once per sample; no EP of the lowest trainable layer
    names = [layer.name for layer in fast.layers]
    lowest = min(names.index(n) for n in trainable)
    for (name, phase), macs in counter.macs.items():
        i = names.index(name)
        assert macs > 0
        if phase == "WG":
            assert name in trainable
        elif phase == "prefix":
            assert i < lowest
        else:
            assert i >= lowest and (phase == "FP" or i > lowest), (name, phase)
    if lowest > 0:
        assert counter.dense[("T1", "prefix")] == 24 * 16 * 46 * 46   # taps in the padding left out


def test_trainable_all_is_the_plain_training_step(digits, pretrained):
    """``Sequential.backward(trainable=every layer)`` is the default backward, bit for bit."""
    pairs = _pairs(digits, n=8)
    sq = quantize(pairs[0], DM.TANH_FRAC, 16)
    grads = []
    for trainable in (None, [layer.name for layer in pretrained.layers]):
        net = copy.deepcopy(pretrained)
        pre = net.forward(QT(sq, DM.TANH_FRAC), AR)
        net.backward(QT(pre.q, pre.frac), AR, trainable=trainable)
        grads.append({(layer.name, k): g.q for layer in net.layers for k, g in layer.grads.items()})
    assert grads[0].keys() == grads[1].keys()
    for key in grads[0]:
        assert np.array_equal(grads[0][key], grads[1][key])


def test_work_counter_counts_the_golden_work(digits, pretrained):
    net = copy.deepcopy(pretrained)
    counter = R.WorkCounter().attach(net)
    sq = quantize(_pairs(digits, n=4)[0], DM.TANH_FRAC, 16)
    net.forward(QT(sq, DM.TANH_FRAC), AR)
    t1 = net.layers[0]
    x, wq, _ = t1.cache
    want = work_counts("conv", {"x": x.q, "w": wq.q}, stride=1, padding=1)
    assert counter.macs[("T1", "FP")] == want["effective_macs"]
    assert counter.dense[("T1", "FP")] == want["dense_macs"]
    assert set(counter.by_phase()) == set(R.PHASES)
    assert R.held_out_l1(net, _pairs(digits, n=4)) > 0
    assert counter.macs[("T1", "FP")] == want["effective_macs"]    # the read-out is not counted


def test_user_style_is_the_documented_transform(digits):
    images = digits[0][:10]
    assert np.allclose(R.user_style(images, thickness=0, slant=0.0), images)
    thick = R.user_style(images, thickness=1, slant=0.0)
    assert thick.shape == images.shape and thick.min() >= -1.0 and thick.max() <= 1.0
    assert np.all(thick >= images - 1e-12)            # a dilation only adds ink
    assert (thick > 0).sum() > 1.3 * (images > 0).sum()
    slanted = R.user_style(images, thickness=0, slant=0.3)
    # italic: the top rows move right of the bottom rows
    cols = np.arange(16)
    ink = (slanted[:, 0] + 1) / 2
    top = (ink[:, :5] * cols).sum() / ink[:, :5].sum()
    bottom = (ink[:, -5:] * cols).sum() / ink[:, -5:].sum()
    flat = (images[:, 0] + 1) / 2
    assert top - bottom > ((flat[:, :5] * cols).sum() / flat[:, :5].sum()
                           - (flat[:, -5:] * cols).sum() / flat[:, -5:].sum()) + 1.0
    with pytest.raises(ValueError, match="thickness"):
        R.user_style(images, thickness=-1)


def test_bad_layer_sets_are_refused_by_name(digits, pretrained):
    pairs = _pairs(digits, n=4)
    with pytest.raises(ValueError, match="no layer named T9"):
        R.retrain(copy.deepcopy(pretrained), pairs, ["T9"], steps=1)
    with pytest.raises(ValueError, match="at least one layer"):
        R.retrain(copy.deepcopy(pretrained), pairs, [], steps=1)
    with pytest.raises(ValueError, match="no layer named X"):
        pretrained.backward(QT(np.zeros((1, 1, 16, 16), np.int64), 14), AR, trainable={"X"})
    with pytest.raises(ValueError, match="no layer named X"):
        FixedAdam(pretrained, layers={"X"})
    from ganforge.golden.train import build_i2i
    with pytest.raises(ValueError, match="device mode"):
        R.retrain(build_i2i(0), pairs, ["T5"], steps=1)
