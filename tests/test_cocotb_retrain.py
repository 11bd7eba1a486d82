"""A retraining step with frozen layers (issue 15) on the whole accelerator's Verilog: every
convolution's FP, EP and WG a program, the parameters after the step bit-identical to the
golden retraining's (testbench/tb_train.py: retrain_steps). Slow: ten programs on the
``small`` System's Verilog (5 minutes, and about 8 more for the Verilator build)."""

import pytest

from ganforge.bench.retrain import Study, retrain_on_rtl


@pytest.mark.slow
def test_selret_step_on_the_rtl(tmp_path):
    from ganforge.golden import retrain as R
    from ganforge.golden.data import load_digits16
    from ganforge.golden.nn import Arith
    from ganforge.golden.train import train_i2i
    images, labels = load_digits16()
    net = train_i2i(Arith(), iterations=3, batch=8, data=(images[:100], labels[:100]),
                    mode="device")["net"]
    pairs = R.user_pairs(R.user_style(images[-4:]), seed=1)
    # T5's weight gradient is 3×3: its maps leave the store adapters padded to whole words
    trainable = ["T3", "T3.in", "T4", "T4.in", "T5"]
    res = retrain_on_rtl(Study(out=str(tmp_path)), net, pairs, trainable, steps=1, batch=2,
                         quiet=True)
    assert res["equal"]
    parts = [(e["layer"], e["phase"], e["part"]) for e in res["programs"]]
    # the prefix's FP once for the 4 pairs; then the step: FP of the suffix, EP above the
    # lowest trainable layer only, WG of the trainable layers only
    assert parts[:2] == [("T1", "FP", "prefix"), ("T2", "FP", "prefix")]
    step = sorted(p[:2] for p in parts[2:])
    assert step == sorted([("T3", "FP"), ("T4", "FP"), ("T5", "FP"), ("T5", "EP"), ("T4", "EP"),
                           ("T5", "WG"), ("T4", "WG"), ("T3", "WG")])
