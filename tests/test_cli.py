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
    for name in ("config", "demo"):
        assert any(line.strip().startswith(name) for line in proc.stdout.splitlines()), proc.stdout


@pytest.mark.parametrize("sub", ["config", "demo"])
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
