"""The ganforge command line, run as a user runs it: in a subprocess."""

import subprocess
import sys
from pathlib import Path

import pytest

from ganforge.cli import build_parser
from ganforge.config import PRESETS

ROOT = Path(__file__).resolve().parents[1]


def run(*args):
    return subprocess.run([sys.executable, "-m", "ganforge", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def assert_one_line_error(proc):
    assert proc.returncode == 2, proc
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("ganforge: error:"), proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


def test_help_lists_subcommands():
    proc = run("--help")
    assert proc.returncode == 0
    assert proc.stderr == ""
    for name in ("config", "demo", "workloads", "verilog", "area", "sim-op", "train"):
        assert any(line.strip().startswith(name) for line in proc.stdout.splitlines()), proc.stdout


@pytest.mark.parametrize("sub", ["config", "demo", "verilog", "area", "sim-op", "train"])
def test_subcommand_help(sub):
    proc = run(sub, "--help")
    assert proc.returncode == 0 and proc.stdout.startswith("usage: ganforge " + sub)


def test_version():
    proc = run("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == "ganforge 0.1.0"


def test_unknown_subcommand():
    line = assert_one_line_error(run("frobnicate"))
    assert "frobnicate" in line


def test_no_subcommand():
    assert_one_line_error(run())


@pytest.mark.parametrize("args", [
    ["--bogus"],
    ["config", "--bogus"],
    ["demo", "--iterations", "zero"],
    ["demo", "--iterations", "0"],
    ["config", "--config"],
])
def test_bad_option(args):
    assert_one_line_error(run(*args))


@pytest.mark.parametrize("args,word", [
    (["train"], "--on"), (["train", "--on", "golden"], "golden"),
    (["train", "--on", "rtl", "--cores", "17"], "17"), (["train", "--on", "rtl", "--steps", "0"], "0"),
    (["train", "--on", "rtl", "--config", "nope"], "nope"),
    (["train", "--on", "rtl", "-o", "/proc/ganforge/out.json"], "cannot write")])
def test_train_refuses_bad_arguments_before_simulating(args, word):
    """Every bad argument of ``train`` is one line, before anything is built."""
    assert word in assert_one_line_error(run(*args))


def test_config_unknown_preset():
    line = assert_one_line_error(run("config", "--config", "nope"))
    assert "nope" in line
    for name in PRESETS:
        assert name in line


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_config_describes_preset(name):
    proc = run("config", "--config", name)
    assert proc.returncode == 0, proc.stderr
    assert name in proc.stdout and "lanes" in proc.stdout


def test_config_default_and_list():
    proc = run("config")
    assert proc.returncode == 0 and "'small'" in proc.stdout
    proc = run("config", "--list")
    assert proc.returncode == 0
    assert [line.split()[0] for line in proc.stdout.splitlines()] == list(PRESETS)


def test_demo_arguments_parse():
    args = build_parser().parse_args(["demo", "--out", "x", "--iterations", "3", "--quick"])
    assert (args.out, args.iterations, args.quick) == ("x", 3, True)
    args = build_parser().parse_args(["demo"])
    assert (args.out, args.iterations, args.quick) == ("build/demo", None, False)


def test_main_catches_user_errors(capsys):
    from ganforge.cli import main
    assert main(["config", "--config", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("ganforge: error: unknown configuration preset")


# --- one parser, one set of argument types -------------------------------------

def test_scripts_and_subcommands_share_one_parser(capsys):
    from ganforge import cli
    assert cli.ScriptParser is cli.ArgumentParser
    ap = cli.ScriptParser(prog="bench_x")
    ap.add_argument("--jobs", type=cli.positive_int, default=1)
    with pytest.raises(SystemExit) as exc:
        ap.parse_args(["--jobs", "0"])
    assert exc.value.code == 2
    assert capsys.readouterr().err == ("bench_x: error: argument --jobs: "
                                       "expected a positive integer, got 0\n")
    with pytest.raises(SystemExit):
        ap.error("--lanes must be >= 1, got 0")
    assert capsys.readouterr().err == "bench_x: error: --lanes must be >= 1, got 0\n"


def test_argument_types():
    import argparse
    from ganforge.cli import comma_list, nonneg_int, positive_int, top_name
    assert nonneg_int("0") == 0 and positive_int("3") == 3
    for parse, text in ((nonneg_int, "-1"), (positive_int, "0"), (positive_int, "x")):
        with pytest.raises(argparse.ArgumentTypeError):
            parse(text)
    targets = comma_list(("generic", "ice40"), "target")
    assert targets("ice40, generic,ice40") == ["ice40", "generic"]
    with pytest.raises(argparse.ArgumentTypeError, match="unknown target 'x'.*generic, ice40"):
        targets("generic,x")
    with pytest.raises(argparse.ArgumentTypeError, match="no target"):
        targets(",")
    assert top_name("output_stage") == "output-stage" and top_name("EORS-Unit") == "eors-unit"
    with pytest.raises(argparse.ArgumentTypeError, match="unknown top 'x'.*accelerator"):
        top_name("x")


# --- a missing optional dependency is one line ------------------------------------

@pytest.mark.parametrize("argv, module, line", [
    (["sim-op", "in.npz", "-o", "out.npz"], "cocotb",
     "sim-op needs cocotb: pip install 'ganforge[sim]'"),
    (["demo", "--quick"], "sklearn", "demo needs scikit-learn: pip install 'ganforge[train]'"),
    (["workloads", "--out", "x"], "sklearn",
     "workloads needs scikit-learn: pip install 'ganforge[train]'"),
])
def test_missing_extra_is_one_line(monkeypatch, capsys, argv, module, line):
    """A command whose extra is not installed stops before doing anything (the module is
    hidden: a None entry in sys.modules makes it unimportable)."""
    from ganforge.cli import main
    monkeypatch.setitem(sys.modules, module, None)
    assert main(argv) == 2
    assert capsys.readouterr().err == f"ganforge: error: {line}\n"


def _command_importing(monkeypatch, module):
    """Register, for this test, a command whose handler imports ``module``, and make every
    import of ``module`` fail as it does when it is not installed."""
    import builtins
    from ganforge import cli
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name.split(".")[0] == module.split(".")[0]:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return real_import(name, *args, **kwargs)

    def handler(args):
        __import__(module)
        return 0

    cli.build_parser()                  # register the real commands first
    monkeypatch.setattr(cli, "_COMMANDS",
                        cli._COMMANDS + [cli._Command("frob", "test", handler, None, None, ())])
    monkeypatch.setattr(builtins, "__import__", fake_import)


def test_missing_extra_imported_late_is_one_line(monkeypatch, capsys):
    """A handler that imports an optional module the command did not declare still gets
    one line naming the extra, not a traceback."""
    from ganforge.cli import main
    _command_importing(monkeypatch, "dask.distributed")
    assert main(["frob"]) == 2
    assert capsys.readouterr().err == ("ganforge: error: frob needs dask: "
                                       "pip install 'ganforge[cluster]'\n")


def test_missing_required_module_is_a_bug(monkeypatch):
    """A module that is not an optional dependency is a bug: its traceback is kept."""
    from ganforge.cli import main
    _command_importing(monkeypatch, "no_such_module")
    with pytest.raises(ModuleNotFoundError):
        main(["frob"])


def test_command_refuses_an_unknown_need():
    from ganforge.cli import command
    with pytest.raises(ValueError, match="numpy"):
        command("frob", "test", needs=("numpy",))
