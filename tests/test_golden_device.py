"""The device arithmetic of training (issue 17, golden half): the tanh/loss unit, delayed
scaling, the fixed-point Adam, and the training loops' ``mode="device"``."""

import math

import numpy as np
import pytest

from ganforge.golden import device_math as DM
from ganforge.golden import device_optim as O
from ganforge.golden.fixed import shift_round
from ganforge.golden.instnorm import rsqrt_fixed
from ganforge.golden.nn import Arith, QT
from ganforge.golden.scaling import H_INIT, RELAX, ScaleState, Scaler
from ganforge.golden.train import generate, i2i_forward, train_dcgan, train_i2i

ALL16 = np.arange(-(1 << 15), 1 << 15, dtype=np.int64)


# --- the tanh / loss unit -------------------------------------------------------------------
@pytest.mark.parametrize("frac", [0, 4, 9, 12, 13, 14, 15])
def test_tanh_within_its_bound_on_every_16_bit_input(frac):
    t = DM.tanh_fixed(ALL16, frac)
    assert t.dtype == np.int64
    err = np.abs(t / 2.0 ** DM.TANH_FRAC - np.tanh(ALL16 / 2.0 ** frac)).max()
    assert err <= DM.TANH_MAX_ERROR
    assert np.array_equal(DM.tanh_fixed(-ALL16[1:], frac), -t[1:])        # exactly odd
    assert np.all(np.diff(t) >= 0)                                         # monotonic
    assert np.array_equal(DM.tanh_fixed(ALL16, frac), t)                   # reproducible


def test_tanh_table_and_fixed_points():
    assert len(DM.TANH_TABLE) == 257 and DM.TANH_TABLE[0] == 0 and DM.TANH_TABLE[-1] == 1 << 14
    assert DM.TANH_TABLE[32] == math.floor(math.tanh(1.0) * 2 ** 14 + 0.5)
    assert DM.tanh_fixed(np.array([0, 10 << 13, -(10 << 13)]), 13).tolist() == [0, 16384, -16384]
    # a negative fraction count (huge values) saturates without overflow
    assert DM.tanh_fixed(np.array([1, -1, 0]), -40).tolist() == [16384, -16384, 0]
    with pytest.raises(ValueError, match="frac"):
        DM.tanh_fixed(np.array([1]), 1.5)
    with pytest.raises(TypeError):
        DM.tanh_fixed(np.array([0.5]), 4)             # codes must be integers


@pytest.mark.parametrize("frac", [3, 10, 14])
def test_sigmoid_within_its_bound(frac):
    s = DM.sigmoid_fixed(ALL16, frac)
    ref = 1.0 / (1.0 + np.exp(-np.clip(ALL16 / 2.0 ** frac, -60, 60)))
    assert np.abs(s / 2.0 ** DM.SIGMOID_FRAC - ref).max() <= DM.SIGMOID_MAX_ERROR
    assert DM.sigmoid_fixed(np.array([0]), frac)[0] == 1 << 14
    assert s.min() >= 0 and s.max() <= 1 << 15


def test_tanh_grad_from_the_output():
    y = np.arange(-(1 << 14), (1 << 14) + 1)
    d = DM.tanh_grad_fixed(y)
    assert d.min() >= 0 and d.max() == 1 << 14
    assert np.abs(d / 2.0 ** 14 - (1 - (y / 2.0 ** 14) ** 2)).max() <= 2.0 ** -15


def test_reciprocal():
    assert DM.reciprocal(128) == (1 << 16, 7)
    assert DM.reciprocal(1) == (1 << 16, 0)
    r, p = DM.reciprocal(100)
    assert p == 6 and r == round(2 ** 22 / 100)
    with pytest.raises(ValueError, match="n must be"):
        DM.reciprocal(0)


@pytest.mark.parametrize("n", [16, 96])
def test_logistic_loss_grad_against_float(n):
    rng = np.random.default_rng(1)
    logit = rng.integers(-40000, 40000, n)
    frac = 12
    label_q = np.where(np.arange(n) < n // 2, 1 << 14, 0)           # labels 0.5 and 0
    g, fg = DM.logistic_loss_grad(logit, frac, label_q)
    x = logit / 2.0 ** frac
    ref = (1 / (1 + np.exp(-x)) - label_q / 2.0 ** 15) / n
    bound = (DM.SIGMOID_MAX_ERROR + 2.0 ** -15) / n
    assert np.abs(g / 2.0 ** fg - ref).max() <= bound
    assert np.array_equal(DM.logistic_loss_grad(logit, frac, label_q)[0], g)
    with pytest.raises(ValueError, match="label"):
        DM.logistic_loss_grad(logit, frac, np.full(n, 1 << 16))


def test_l1_loss_grad_against_float():
    rng = np.random.default_rng(2)
    out = rng.integers(-(1 << 14), (1 << 14) + 1, (4, 1, 16, 16))
    clean = rng.integers(-(1 << 14), (1 << 14) + 1, out.shape)
    g, fg = DM.l1_loss_grad(out, clean)
    o, c = out / 2.0 ** 14, clean / 2.0 ** 14
    ref = np.sign(o - c) * (1 - o ** 2) / out.size
    assert np.abs(g / 2.0 ** fg - ref).max() <= 2.0 ** -14 / out.size
    with pytest.raises(ValueError, match="clean shape"):
        DM.l1_loss_grad(out, clean[:2])


def test_rsqrt_vec_is_rsqrt_fixed():
    rng = np.random.default_rng(3)
    d = np.concatenate([np.arange(1, 300), rng.integers(1, 1 << 50, 500),
                        [(1 << 30) - 1, 1 << 30, (1 << 32) - 1, 1 << 32, (1 << 61) - 1]])
    rs, k = DM.rsqrt_vec(d)
    rs2, k2 = rsqrt_fixed(d)
    assert np.array_equal(rs, rs2) and np.array_equal(k, k2)
    with pytest.raises(ValueError, match="positive"):
        DM.rsqrt_vec(np.array([0]))


# --- delayed scaling ----------------------------------------------------------------------
def test_first_write_is_measured_and_later_writes_use_the_last_monitor():
    st = ScaleState()
    acc = np.array([1000, -70000, 5])                 # bit length 17, at 20 fraction bits
    y, frac, pre = st.requantize(acc, 20, 16)
    # e = 17 − 20 = −3; frac_out = 15 − h − e = 15 − 1 + 3 = 17; shift 3
    assert frac == 17 and st.exp == -3 and st.saturations == 0
    assert np.array_equal(y, shift_round(acc, 3))
    # the next write at 24 fraction bits uses the same exponent: shift 24 − 17 = 7
    y, frac, _ = st.requantize(acc << 4, 24, 16)
    assert frac == 17 and np.array_equal(y, shift_round(acc << 4, 7))


def test_saturation_backs_the_shift_off():
    st = ScaleState()
    st.requantize(np.array([1 << 14]), 14, 16)        # e = 1, frac_out = 14 − 1 = 13 next
    assert (st.exp, st.headroom) == (1, H_INIT)
    big = np.array([3 << 16, 1 << 10])                # grew 12×: saturates at 13 bits
    y, frac, pre = st.requantize(big, 14, 16)
    assert frac == 13 and y[0] == 32767 and pre[0] == 3 << 15
    assert st.saturations == 1 and st.total_saturations == 1
    assert st.headroom == H_INIT + 1 and st.exp == (3 << 15).bit_length() - 13
    y, frac, _ = st.requantize(big, 14, 16)           # next step fits, with the extra bit
    assert st.saturations == 0 and np.abs(y).max() < 1 << 14
    assert frac == 15 - st.headroom - st.exp


def test_headroom_relaxes_after_clean_writes_and_zero_keeps_the_exponent():
    st = ScaleState(h_init=2, h_min=1, h_max=4, relax=3)
    for _ in range(3):
        st.requantize(np.array([100]), 0, 16)
    assert st.headroom == 1
    e = st.exp
    st.requantize(np.zeros(4, dtype=np.int64), 5, 16)
    assert st.exp == e
    with pytest.raises(ValueError, match="h_min"):
        ScaleState(h_init=0, h_min=1)
    with pytest.raises(ValueError, match="relax"):
        ScaleState(relax=-1)


def test_scaler_keys_by_tag_and_freezes():
    sc = Scaler()
    sc.tag = "d"
    sc.requantize("L.FP", np.array([5]), 0, 16)
    sc.tag = "g"
    sc.frozen = True
    sc.requantize("L.FP", np.array([5]), 0, 16)
    assert sc.states["d:L.FP"].writes == 1 and sc.states["g:L.FP"].writes == 0
    assert RELAX > 0


# --- the fixed-point Adam -----------------------------------------------------------------
def test_adam_first_step_by_hand():
    """g = (1.0, −0.5) at 14 fraction bits, zero moments, lr 2e-4, β = (0.5, 0.999)."""
    b1 = int(O.quantize(0.5, O.BETA_FRAC, 32))
    b2 = int(O.quantize(0.999, O.BETA_FRAC, 32))
    assert (b1, b2) == (1 << 23, 16760439)
    g = np.array([1 << 14, -(1 << 13)])
    m, fm, v, fv = O.adam_moments(np.zeros(2, np.int64), 30, 0, np.zeros(2, np.int64), 30, 0,
                                  g, 14, b1, b2)
    # bounds: em = bitlen(2**14) − 14 = 1 → fm = 29; ev = bitlen(2**28) − 28 = 1 → fv = 29 → 28
    assert (fm, fv) == (29, 28)
    # m = (1 − β1)·g: g at 29 bits is (2**29, −2**28), times 2**23 >> 24
    assert m.tolist() == [1 << 28, -(1 << 27)]
    # v = (1 − β2)·g²: (2**24 − B2) = 16777; g² at 28 bits (2**28, 2**26) → 16777·16, 16777·4
    assert v.tolist() == [268432, 67108]
    # r = m/sqrt(v + 1): D = 268433, k = −6, m_norm = D·2**12, rs = isqrt(2**62 // m_norm)
    rs = math.isqrt((1 << 62) // (268433 << 12))
    r0 = (int(m[0]) * rs + (1 << (31 - 6 + 29 - 14 - 16 - 1))) >> (31 - 6 + 29 - 14 - 16)
    r = O.adam_ratio(m, fm, v, fv)
    assert r[0] == r0 == 1036208 and abs(r0 / 2 ** 16 - 0.5 / math.sqrt(268433 / 2 ** 28)) < 2 ** -12
    # α_1 = LR·isqrt((2**30 − b2t)·2**30) // (2**30 − b1t): b1t = 2**29, b2t = 64·B2
    lr_q = int(O.quantize(2e-4, O.ALPHA_FRAC, 63))
    alpha = O.adam_alpha(lr_q, 1 << 29, 64 * b2)
    assert alpha == lr_q * math.isqrt(((1 << 30) - 64 * b2) << 30) // (1 << 29) == 13907754
    step = shift_round(alpha * r, O.ALPHA_FRAC + O.RATIO_FRAC - O.MASTER_FRAC)
    assert step.tolist() == [53686, -53686]           # ≈ lr·sign(g)·2**28 = 53687.09
    assert abs(step[0] / 2.0 ** 28 - 2e-4) < 1e-8


def test_fixed_adam_on_a_layer_matches_the_hand_step():
    from ganforge.golden.nn import ConvLayer, Sequential, to_device
    net = Sequential([ConvLayer("A", 1, 2, 1, activation="identity", bias=False,
                                rng=np.random.default_rng(0))])
    to_device(net)
    w0 = net.layers[0].params["w"].copy()
    opt = O.FixedAdam(net, lr=2e-4)
    net.layers[0].grads["w"] = QT(np.array([1 << 14, -(1 << 13)]).reshape(2, 1, 1, 1), 14)
    opt.step()
    assert (w0 - net.layers[0].params["w"]).reshape(-1).tolist() == [53686, -53686]
    assert net.layers[0].w16["w"].q.dtype == np.int64
    with pytest.raises(ValueError, match="lr"):
        O.FixedAdam(net, lr=0.0)


# --- the training loops -------------------------------------------------------------------
def _state_of(nets, opts):
    out = {}
    for net in nets:
        for layer, name in net.parameters():
            out[f"{layer.name}.{name}"] = layer.params[name]
    for i, opt in enumerate(opts):
        for key, st in opt.state.items():
            out[f"opt{i}.{key}.m"], out[f"opt{i}.{key}.v"] = st.m, st.v
    return out


def test_device_dcgan_is_deterministic_and_integer():
    ar = Arith(fixed=True)
    runs = [train_dcgan(ar, iterations=3, batch=4, seed=0, mode="device") for _ in range(2)]
    a, b = (_state_of((r["G"], r["D"]), r["optimizers"]) for r in runs)
    assert a.keys() == b.keys() and len(a) > 10
    for k in a:
        assert np.issubdtype(a[k].dtype, np.integer), k
        assert np.array_equal(a[k], b[k]), k
    assert np.array_equal(runs[0]["losses"], runs[1]["losses"])
    for layer in runs[0]["G"].layers + runs[0]["D"].layers:
        for g in layer.grads.values():
            assert isinstance(g, QT) and np.issubdtype(g.q.dtype, np.integer)
    imgs, pre = generate(runs[0]["G"], np.random.default_rng(5).normal(size=(8, 32)), ar, mode="device")
    assert imgs.shape == (8, 1, 16, 16) and np.abs(imgs).max() <= 1.0


def test_device_i2i_is_deterministic_and_integer():
    ar = Arith(fixed=True)
    runs = [train_i2i(ar, iterations=2, batch=2, seed=0, mode="device") for _ in range(2)]
    a, b = (_state_of((r["net"],), (r["optimizer"],)) for r in runs)
    for k in a:
        assert np.issubdtype(a[k].dtype, np.integer), k
        assert np.array_equal(a[k], b[k]), k
    out, _ = i2i_forward(runs[0]["net"], np.zeros((2, 1, 16, 16)) - 1.0, ar, mode="device")
    assert out.shape == (2, 1, 16, 16)


def test_default_mode_keeps_its_numbers():
    """The host-mode training, as recorded before the device mode existed."""
    ar = Arith(fixed=True)
    r = train_dcgan(ar, iterations=3, batch=8, seed=0)
    np.testing.assert_allclose(r["losses"], [[0.6917210307027208, 0.6932855251388963],
                                             [0.6885133365445903, 0.6934302421106748],
                                             [0.6832607526676601, 0.6935533272573109]], rtol=1e-12)
    assert r["G"].layers[0].params["w"].sum() == pytest.approx(2.197582056186945, rel=1e-12)
    assert r["D"].layers[2].params["w"].sum() == pytest.approx(0.9498558764882965, rel=1e-12)
    r = train_i2i(ar, iterations=3, batch=4, seed=0)
    np.testing.assert_allclose(r["losses"], [0.6590326965953947, 0.5180605877932916,
                                             0.42955396114112154], rtol=1e-12)
    assert r["net"].layers[0].params["w"].sum() == pytest.approx(1.5355905173590245, rel=1e-12)


def test_mode_errors():
    with pytest.raises(ValueError, match="mode must be one of"):
        train_dcgan(Arith(fixed=True), iterations=1, batch=2, mode="chip")
    with pytest.raises(ValueError, match="fixed-point"):
        train_dcgan(Arith(fixed=False), iterations=1, batch=2, mode="device")
    with pytest.raises(ValueError, match="fixed-point"):
        train_i2i(Arith(fixed=False), iterations=1, batch=2, mode="device")
    from ganforge.golden.eors import EorsKnobs
    with pytest.raises(ValueError, match="EORS"):
        train_dcgan(Arith(fixed=True), iterations=1, batch=2, mode="device", eors=EorsKnobs(2, 0))


def test_quality_script_refuses_bad_arguments(capsys, monkeypatch):
    import importlib.util
    import os
    import pathlib
    monkeypatch.setattr(os, "environ", dict(os.environ))      # the script sets BLAS threads
    path = pathlib.Path(__file__).resolve().parent.parent / "scripts" / "device_quality.py"
    spec = importlib.util.spec_from_file_location("device_quality", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    for argv in (["--runs", "gan:device"], ["--runs", "i2i:device-sgdm"], ["--seeds", "-1"],
                 ["--sgdm-lr", "0"], ["--iterations", "0"]):
        with pytest.raises(SystemExit) as exc:
            mod.main(argv)
        assert exc.value.code == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("device_quality: error: argument"), err
