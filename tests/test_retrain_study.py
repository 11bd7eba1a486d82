"""The retraining study of ``make retrain-demo`` (ganforge/bench/retrain.py) end to end on a
few steps: every method's row, its compute against the full retraining's, the bars."""

from ganforge.bench.retrain import Study, run_study, table_lines


def test_the_study_runs_every_method_at_its_budget(tmp_path):
    st = Study(pretrain_steps=2, full_steps=6, batch=4, user_train=16, probe_batch=8,
               kim_steps=1, budget=0.5, out=str(tmp_path))
    report, nets = run_study(st, lambda label: None)
    methods = [r["method"] for r in report["rows"]]
    assert methods[:2] == ["full retraining", "SELRET"]
    assert {"relative change", "last layers", "first layers", "random 1", "SELRET, other order"} <= set(methods)
    full = report["rows"][0]
    assert full["compute_vs_full"] == 1.0 and full["steps"] == 6
    sel = report["rows"][1]
    assert sel["layers"] == report["probe"]["selected"]
    for r in report["rows"][1:]:
        # every other method spends at most SELRET's budget (a step more would pass it)
        assert r["macs"] <= 0.5 * full["macs"] * 1.05, r["method"]
        assert r["l1"] > 0
    assert sel["macs_by_phase"]["probe"] == report["probe"]["macs"] > 0
    assert (tmp_path / "retrain.json").exists()
    assert (tmp_path / "pretrained-s0-it2.pkl").exists()            # kept for the next run
    lines = list(table_lines(report))
    assert lines[-2].startswith("bars: compute cut") and lines[-1].startswith("Kim et al.")
    assert len(lines) == len(methods) + 5
    assert set(report["bars"]) >= {"compute_cut", "gain_met", "beats_baselines", "noise",
                                   "kim_same_layers"}
    assert set(nets) >= {"pretrained", "selret", "full", "held", "train"}
