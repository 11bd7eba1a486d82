"""scripts/bench_eors.py without a simulator: its argument checks and ``--merge``."""

import json
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "bench_eors.py"

COUNTS = ("outputs", "true_zero", "predicted_zero", "false_zero", "missed_zero", "caught_zero")


def _row(name, off, core, pipe, lean=True):
    counts = dict(zip(COUNTS, (100, 30, 29, 1, 2, 28)))
    rates = {"true_zero_rate": 0.3, "predicted_zero_rate": 0.29, "false_zero_rate": 0.01,
             "missed_zero_rate": 0.02}
    row = {"layer": name, "counts_full_batch": counts, "rates_full_batch": rates,
           "sim_counts": counts, "matches_golden": True,
           "cycles_no_eors": off, "cycles_eors_unit": off // 2, "cycles_core_eors": core,
           "cycles_core_eors_natural": None if lean else core + 1,
           "cycles_audit": None if lean else off + 1,
           "hw_false_zero": None if lean else 1, "hw_missed_zero": None if lean else 2,
           "cycles_sequential": off // 2 + core, "cycles_pipelined": pipe,
           "pipeline_unit_cycles_busy": off // 2, "pipeline_tile": 2 if name == "G1" else 1, "cycles_overlapped_computed": max(core, off // 2),
           "effective_macs_off": 16 * off, "effective_macs_on": 16 * core,
           "speculation_products": 16 * off, "ideal_cycles_off": off, "ideal_cycles_on": core}
    return row


def _result(rows, **over):
    res = {"schema": "ganforge-eors-bench/1", "config": "small", "lanes": 16, "eors_lanes": 32,
           "samples": 0, "sim": "verilator",
           "knobs": {"mantissa_bits": 2, "margin_lsb": 0, "acc_width": 36, "source": "--knobs"},
           "layers": rows, "total": {}, "all_match": True, "area": None, "seconds": 10.0}
    res.update(over)
    return res


def _run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          cwd=ROOT)


def test_merge_joins_layers_in_workload_order_under_one_total(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(_result([_row("D2", 1000, 800, 900)])))
    b.write_text(json.dumps(_result([_row("G1", 100, 50, 70), _row("G2", 500, 400, 450)])))
    # An older result: no tile per layer, one at the top; its G1 is replaced by b's.
    old = [_row("G1", 100, 50, 99), _row("D1", 10, 5, 7)]
    for r in old:
        del r["pipeline_tile"]
    c = tmp_path / "c.json"
    c.write_text(json.dumps(_result(old, pipeline_tile=4)))
    proc = _run("--merge", str(c), str(a), str(b), "--out", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    res = json.loads((tmp_path / "out" / "eors.json").read_text())
    assert [r["layer"] for r in res["layers"]] == ["G1", "G2", "D1", "D2"]
    assert f"G1: taken from {b} (also in {c})" in proc.stdout
    t = res["total"]
    assert (t["cycles_no_eors"], t["cycles_core_eors"], t["cycles_pipelined"]) == (1610, 1255, 1427)
    assert t["speedup_pipelined"] == pytest.approx(1610 / 1427)
    assert t["cycles_core_eors_natural"] is None and t["speedup_core_only_natural"] is None
    assert res["seconds"] == 30.0
    assert "the whole captured batch" in proc.stdout and "mispredictions" not in proc.stdout
    assert "samples per pipeline tile: G1 2, G2 1, D1 4, D2 1" in proc.stdout


def test_merge_refuses_benches_that_differ(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(_result([_row("D2", 1000, 800, 900)])))
    other = dict(_result([])["knobs"], margin_lsb=256)
    b.write_text(json.dumps(_result([_row("G1", 100, 50, 70)], knobs=other)))
    proc = _run("--merge", str(a), str(b), "--out", str(tmp_path / "out"))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].endswith(f"{b} differs from {a} in knobs")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("args, message", [
    (["--layers", "G9"], "--layers: unknown layer G9; the ReLU layers are G1,G2,D1,D2"),
    (["--samples", "-1"], "--samples must be >= 0 (0: the whole batch), got -1"),
    (["--eors-lanes", "3"], "--eors-lanes must be a power of two, got 3"),
    (["--pipeline-tile", "0"], "--pipeline-tile must be >= 1, got 0"),
])
def test_bad_arguments_get_one_line(args, message, tmp_path):
    proc = _run(*args, "--no-area", "--out", str(tmp_path))
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"bench_eors: error: {message}", proc.stderr


def test_lane_balance_model_orders_natural_balanced_ideal():
    """scripts/eors_lane_balance.py on the saved workload: balanced never costs more than
    natural, the ideal is the least, and a bad --lanes gets one line."""
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "eors_lane_balance.py")],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    rows = [line.split() for line in proc.stdout.splitlines()[2:]]
    assert [r[0] for r in rows] == ["G1", "G2", "D1", "D2"]
    for _, nat, bal, split, ideal, _ in rows:
        assert float(ideal) <= int(bal) <= int(nat) and float(ideal) <= int(split)
    bad = subprocess.run([sys.executable, str(ROOT / "scripts" / "eors_lane_balance.py"),
                          "--lanes", "0"], capture_output=True, text=True, cwd=ROOT)
    assert bad.returncode == 2
    assert bad.stderr.strip() == "eors_lane_balance: error: --lanes must be >= 1, got 0"
