"""scripts/bench_eors.py and ganforge.bench.eors without a simulator: the merge of the layers,
the argument checks, and the lane-balance model."""

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


def test_layers_are_merged_in_workload_order_under_one_total(tmp_path, monkeypatch, capsys):
    """The bench's layers go through the executor (here in this process, with a stand-in for
    the RTL runs) and are merged in workload order, whatever order they were asked in."""
    from ganforge.bench import eors
    from ganforge.config import get_preset
    from ganforge.executor import Executor
    fake = {"G1": (100, 50, 70), "G2": (500, 400, 450), "D1": (10, 5, 7), "D2": (1000, 800, 900)}
    asked = []

    def bench_layer(item):
        name, rec, config, settings = item
        asked.append(name)
        assert settings.samples == 0 and "x" in rec
        row = _row(name, *fake[name])
        if name == "D1":
            row["pipeline_tile"] = 4
        eors._speedups(row)                 # as bench_layer does
        return row
    monkeypatch.setattr(eors, "bench_layer", bench_layer)
    settings = eors.Settings(2, 0, samples=0, lean=True)
    res = eors.run(get_preset("small"), "small", settings, Executor(jobs=1, label=None),
                   layers=["D2", "G1", "D1", "G2"], knobs_source="--knobs", out=str(tmp_path))
    out = capsys.readouterr().out
    assert asked == ["G1", "G2", "D1", "D2"]
    assert json.loads((tmp_path / "eors.json").read_text()) == res
    assert [r["layer"] for r in res["layers"]] == ["G1", "G2", "D1", "D2"]
    t = res["total"]
    assert (t["cycles_no_eors"], t["cycles_core_eors"], t["cycles_pipelined"]) == (1610, 1255, 1427)
    assert t["speedup_pipelined"] == pytest.approx(1610 / 1427)
    assert t["cycles_core_eors_natural"] is None and t["speedup_core_only_natural"] is None
    assert res["knobs"] == {"mantissa_bits": 2, "margin_lsb": 0, "acc_width": 36, "source": "--knobs"}
    assert res["area"] is None and res["all_match"]
    assert "the whole captured batch" in out and "mispredictions" not in out
    assert "samples per pipeline tile: G1 2, G2 1, D1 4, D2 1" in out


def test_unreachable_cluster_gets_one_line(tmp_path):
    """--cluster at an address where no scheduler listens: one line, after a bounded wait."""
    proc = _run("--cluster", "tcp://127.0.0.1:9", "--no-area", "--out", str(tmp_path))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "bench_eors: error: cannot reach the Dask scheduler at tcp://127.0.0.1:9 within 10 s"), lines
    assert not (tmp_path / "eors.json").exists()


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
