"""The SELRET rule (firmware/schedule/selret.py) on costs and drops made by hand, and on a
probe of the real translator."""

import copy

import numpy as np
import pytest

from ganforge.firmware.schedule import selret as S

# A chain like the translator's: conv, norm, conv, norm, conv (norms have no MACs).
NAMES = ["C1", "N1", "C2", "N2", "C3"]
COSTS = S.Costs(NAMES, NAMES,
                fp={"C1": 10, "N1": 0, "C2": 100, "N2": 0, "C3": 10},
                ep={"C1": 0, "N1": 0, "C2": 200, "N2": 0, "C3": 20},
                wg={"C1": 10, "N1": 0, "C2": 100, "N2": 0, "C3": 10})


def test_step_and_prefix_costs():
    # only C3: its FP and WG; nothing below it runs in the steps
    assert COSTS.step(["C3"]) == 10 + 10
    # lowest C2: FP of C2..C3, EP of the layers above C2 (C3; N2 has none), WG of C2 and C3
    assert COSTS.step(["C2", "C3"], batch=2) == 2 * ((100 + 10) + 20 + (100 + 10))
    # a frozen layer inside the set runs FP and EP, no WG
    assert COSTS.step(["C2"]) == (100 + 10) + 20 + 100
    assert COSTS.full_step() == 120 + 220 + 120
    assert COSTS.prefix(["C3"], samples=5) == 5 * (10 + 100)
    assert COSTS.prefix(["C1"], samples=5) == 0
    with pytest.raises(ValueError, match="at least one"):
        COSTS.step([])


def test_greedy_order_coverage_and_floor():
    drop = {"C1": 1.0, "N1": 0.1, "C2": 10.0, "N2": 0.2, "C3": 2.0}     # total 13.3
    # C3 first: 2.0 per 20 MACs; then C2: 10 per 100 + 20 + 100 added
    sel = S.select(COSTS, drop, coverage=0.1)
    assert sel.layers == ["C3"] and sel.coverage == pytest.approx(2.0 / 13.3)
    sel = S.select(COSTS, drop, coverage=0.5)
    assert sel.layers == ["C2", "C3"]
    assert [o[0] for o in sel.order] == ["C3", "C2"]
    assert sel.order[1][2] == 100 + 20 + 100
    # on to 95 %: N2 adds no MAC once C2 is in and joins at once, then C1; N1 carries
    # under 1 % of the drop and stays frozen
    sel = S.select(COSTS, drop, coverage=0.95)
    assert [o[0] for o in sel.order] == ["C3", "C2", "N2", "C1"]
    assert sel.order[2][2] == 0.0
    assert sel.layers == ["C1", "C2", "N2", "C3"]
    assert sel.coverage == pytest.approx(13.2 / 13.3)
    assert S.select(COSTS, drop, coverage=1.0).layers == ["C1", "C2", "N2", "C3"]
    assert S.select(COSTS, drop, coverage=1.0, floor=0.0).layers == NAMES


def test_a_cheap_strong_layer_wins_over_a_dear_one():
    drop = {"C1": 5.0, "N1": 0.0, "C2": 1.0, "N2": 0.0, "C3": 0.5}
    # C1 is the strongest but lowering the set to C1 brings every FP and EP into the steps
    sel = S.select(COSTS, drop, coverage=0.05)
    assert sel.layers == ["C3"]
    assert S.select(COSTS, drop, coverage=0.5).layers[0] == "C1"


def test_bad_arguments():
    with pytest.raises(ValueError, match="coverage"):
        S.select(COSTS, dict.fromkeys(NAMES, 1.0), coverage=0.0)
    with pytest.raises(ValueError, match="floor"):
        S.select(COSTS, dict.fromkeys(NAMES, 1.0), floor=1.0)
    with pytest.raises(ValueError, match="missing for C3"):
        S.select(COSTS, {"C1": 1, "N1": 1, "C2": 1, "N2": 1})
    with pytest.raises(ValueError, match="k must be"):
        S.baseline_sets(COSTS, 0)


def test_baselines():
    b = S.baseline_sets(COSTS, 2, seed=1, draws=2)
    assert b["last"] == ["N2", "C3"] and b["first"] == ["C1", "N1"]
    assert set(b) == {"last", "first", "random 1", "random 2"}
    for name in ("random 1", "random 2"):
        assert len(set(b[name])) == 2 and all(n in NAMES for n in b[name])
    assert S.baseline_sets(COSTS, 2, seed=1, draws=2) == b          # reproducible


def test_probe_of_the_translator_gives_costs_and_drops():
    from ganforge.golden import retrain as R
    from ganforge.golden.data import load_digits16
    from ganforge.golden.nn import Arith
    from ganforge.golden.train import train_i2i
    images, labels = load_digits16()
    net = train_i2i(Arith(), iterations=2, batch=4, data=(images[:50], labels[:50]),
                    mode="device")["net"]
    probe = copy.deepcopy(net)
    counter = R.WorkCounter().attach(probe)
    R.probe(probe, R.user_pairs(R.user_style(images[-8:]), seed=1), batch=4)
    costs = S.Costs.from_counter(probe, counter, 4)
    drop = S.first_order_drop(probe)
    assert set(drop) == set(costs.params) and all(v > 0 for v in drop.values())
    # the per-sample costs are the counter's, and the full step is every phase of the probe
    assert costs.full_step(4) == pytest.approx(counter.total())
    assert costs.ep["T1"] == 0 and costs.fp["T1.in"] == 0 and costs.wg["T5"] > 0
    sel = S.select(costs, drop)
    assert sel.coverage >= S.COVERAGE and sel.layers
    # the probe changed no parameter
    for a, b in zip(net.layers, probe.layers):
        for k in a.params:
            assert np.array_equal(a.params[k], b.params[k])


def test_relative_change_and_its_top_layers():
    class L:
        def __init__(self, name, **params):
            self.name, self.params = name, params

    class Net:
        def __init__(self, layers):
            self.layers = layers

    a = Net([L("A", w=np.array([3, 4])), L("N"), L("B", w=np.array([10, 0]), b=np.array([0]))])
    b = Net([L("A", w=np.array([3, 5])), L("N"), L("B", w=np.array([13, 0]), b=np.array([4]))])
    ch = S.relative_change(a, b)
    assert ch == {"A": pytest.approx(1 / 5), "B": pytest.approx(5 / 10)}
    assert S.top_changed(ch, 1, ["A", "N", "B"]) == ["B"]
    assert S.top_changed(ch, 2, ["A", "N", "B"]) == ["A", "B"]
    with pytest.raises(ValueError, match="k must be"):
        S.top_changed(ch, 3, ["A", "N", "B"])
