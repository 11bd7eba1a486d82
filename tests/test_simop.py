"""ganforge sim-op and ganforge verilog: input checks, one real run, the Verilog of the tops."""

import subprocess
import sys

import numpy as np
import pytest

from ganforge.errors import UserError
from ganforge.golden import reference_result
from ganforge.simop import load_op


def cli(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "ganforge", *args], capture_output=True,
                          text=True, timeout=timeout)


def one_line_error(proc):
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("ganforge: error:"), proc.stderr
    return proc.stderr


@pytest.fixture
def conv_case(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(-500, 500, (2, 3, 5, 5))
    x[rng.random(x.shape) < 0.6] = 0
    w = rng.integers(-500, 500, (3, 3, 3, 3))
    path = tmp_path / "in.npz"
    np.savez(path, op="conv", x=x, w=w, stride=1, padding=1, shift=5, activation="relu")
    return path, x, w


@pytest.mark.parametrize("content,message", [
    (dict(x=np.zeros((1, 1, 2, 2), int)), "missing key 'op'"),
    (dict(op="deconv"), "unknown op 'deconv'"),
    (dict(op="conv", x=np.zeros((1, 1, 2, 2), int)), "needs key 'w'"),
    (dict(op="conv", x=np.zeros((1, 2, 2), int), w=np.zeros((1, 1, 1, 1), int)), "4-D integer"),
    (dict(op="conv", x=np.zeros((1, 1, 2, 2)), w=np.zeros((1, 1, 1, 1), int)), "4-D integer"),
    (dict(op="conv", x=np.full((1, 1, 2, 2), 40000), w=np.zeros((1, 1, 1, 1), int)), "16-bit"),
    (dict(op="conv_weight_grad", x=np.zeros((1, 1, 2, 2), int), dy=np.zeros((1, 1, 2, 2), int)),
     "kernel_size"),
    (dict(op="conv_weight_grad", x=np.zeros((1, 1, 2, 2), int), dy=np.zeros((1, 1, 2, 2), int),
          kernel_size=1, bias=np.zeros(1, int)), "does not apply"),
    # scalars are integers: never truncated, never a string or an array
    (dict(op="conv", x=np.zeros((1, 1, 2, 2), int), w=np.zeros((1, 1, 1, 1), int), stride=1.7),
     "stride must be an integer, got 1.7"),
    (dict(op="conv", x=np.zeros((1, 1, 2, 2), int), w=np.zeros((1, 1, 1, 1), int), stride="two"),
     "stride must be an integer"),
    (dict(op="conv", x=np.zeros((1, 1, 2, 2), int), w=np.zeros((1, 1, 1, 1), int),
          stride=np.array([1, 2])), "stride must be an integer, got an array"),
    (dict(op="conv", x=np.zeros((1, 1, 2, 2), int), w=np.zeros((1, 1, 1, 1), int), shift=np.nan),
     "shift must be an integer, got nan"),
    (dict(op="conv", x=np.zeros((1, 1, 2, 2), int), w=np.zeros((1, 1, 1, 1), int), padding=-1),
     "padding must be at least 0"),
    (dict(op="conv", x=np.zeros((1, 1, 2, 2), int), w=np.zeros((1, 1, 1, 1), int), stride=0),
     "stride must be at least 1"),
    (dict(op="conv", x=np.zeros((1, 1, 2, 2), int), w=np.zeros((1, 1, 1, 1), int),
          bias=np.array([0.6])), "bias must be a 1-D integer array"),
    (dict(op="conv", x=np.zeros((1, 1, 2, 2), int), w=np.zeros((1, 1, 1, 1), int),
          out_mask=np.ones((1, 1, 2, 2), int)), "out_mask must be a boolean array"),
    (dict(op="conv", x=np.zeros((1, 1, 2, 2), int), w=np.zeros((1, 1, 1, 1), int),
          activation="tanh"), "activation must be one of"),
    (dict(op="conv", x=np.zeros((1, 1, 2, 2), bool), w=np.zeros((1, 1, 1, 1), int)), "4-D integer"),
    (dict(op=np.array(["conv", "conv"]), x=np.zeros((1, 1, 2, 2), int)), "unknown op"),
])
def test_load_op_refuses_bad_input(tmp_path, content, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **content)
    with pytest.raises(UserError, match=message):
        load_op(str(path))


def test_load_op_refuses_files_that_are_not_op_files(tmp_path):
    """An empty file, an .npy array and an object array are one-line refusals."""
    (tmp_path / "empty.npz").write_bytes(b"")
    np.save(tmp_path / "x.npy", np.zeros(3))
    np.savez(tmp_path / "obj.npz", op="conv", x=np.array([[1, "a"]], dtype=object),
             w=np.zeros((1, 1, 1, 1), int))
    for name, message in (("empty.npz", "not a readable .npz"), ("x.npy", "an .npy array"),
                          ("obj.npz", "x cannot be read")):
        with pytest.raises(UserError, match=message):
            load_op(str(tmp_path / name))
    with pytest.raises(UserError, match="a folder"):
        load_op(str(tmp_path))


def conv_file(path, *, k=3, kh=None, cin=2, cout=2, hw=8, **extra):
    rng = np.random.default_rng(0)
    np.savez(path, op="conv", x=rng.integers(-50, 50, (1, cin, hw, hw)),
             w=rng.integers(-50, 50, (cout, cin, kh or k, k)), **extra)
    return str(path)


@pytest.mark.parametrize("case,word", [
    (dict(k=7), "max_kernel = 5"),              # tiny's limit: the core would drop the pass
    (dict(k=9, hw=12), "max_kernel = 5"),       # beyond the descriptor's 3-bit field
    (dict(stride=3), "max_stride = 2"),
    (dict(stride=10 ** 6), "max_stride = 2"),
    (dict(k=3, padding=3, hw=2), "padding 3 must be below the kernel"),
    (dict(k=3, kh=2), "square kernels"),
    (dict(k=0), "square kernels"),
    (dict(shift=50), "acc_width = 48"),
    (dict(bias=np.array([2 ** 50, 1])), "48-bit accumulator"),
])
def test_sim_op_refuses_what_the_core_refuses_before_simulating(tmp_path, case, word):
    """Ops the host reads but the core would refuse (its pass never drains: a run that used
    to wait forever) are refused in one line naming the limit, before any simulator is
    built (no build folder appears)."""
    path = conv_file(tmp_path / "in.npz", **case)
    proc = subprocess.run([sys.executable, "-m", "ganforge", "sim-op", path, "-o", "out.npz",
                           "--config", "tiny", "--sim", "icarus"], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert word in one_line_error(proc)
    assert not (tmp_path / "build").exists() and not (tmp_path / "out.npz").exists()


def test_sim_op_checks_its_outputs_before_simulating(tmp_path):
    path = conv_file(tmp_path / "in.npz")
    for args in (["-o", "/proc/ganforge/out.npz"], ["-o", str(tmp_path)],
                 ["-o", "out.npz", "--vcd", "/proc/ganforge/w.vcd"]):
        proc = subprocess.run([sys.executable, "-m", "ganforge", "sim-op", path, *args, "--config",
                               "tiny", "--sim", "icarus"], capture_output=True, text=True,
                              timeout=120, cwd=tmp_path)
        assert "cannot write" in one_line_error(proc)
        assert not (tmp_path / "build").exists()


def test_sim_op_cli_errors_are_one_line(tmp_path):
    one_line_error(cli("sim-op", str(tmp_path / "missing.npz"), "-o", str(tmp_path / "o.npz")))
    (tmp_path / "junk.npz").write_text("not an npz")
    one_line_error(cli("sim-op", str(tmp_path / "junk.npz"), "-o", str(tmp_path / "o.npz")))
    np.savez(tmp_path / "shape.npz", op="conv", x=np.zeros((1, 2, 4, 4), int), w=np.zeros((3, 5, 3, 3), int))
    line = one_line_error(cli("sim-op", str(tmp_path / "shape.npz"), "-o", str(tmp_path / "o.npz"),
                              "--config", "tiny"))
    assert "channels" in line
    one_line_error(cli("sim-op", str(tmp_path / "shape.npz"), "-o", "x.npz", "--sim", "modelsim"))


def test_sim_op_runs_on_the_rtl(conv_case, tmp_path):
    path, x, w = conv_case
    out = tmp_path / "out"             # written as named: numpy alone would add .npz
    vcd = tmp_path / "wave.vcd"
    proc = cli("sim-op", str(path), "-o", str(out), "--config", "tiny", "--sim", "icarus",
               "--vcd", str(vcd))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"wrote {out}" in proc.stdout and not (tmp_path / "out.npz").exists()
    assert "$enddefinitions" in vcd.read_text()
    r = np.load(out)
    want, mask = reference_result("conv", {"x": x, "w": w}, stride=1, padding=1, shift=5,
                                  activation="relu")
    assert np.array_equal(r["result"], want) and np.array_equal(r["relu_mask"], mask)
    assert bool(r["matches_golden"])
    assert int(r["macs_issued"]) == int(r["effective_macs"]) < int(r["dense_macs"])
    for name in ("dense_macs", "output_mask_skipped", "input_zero_skipped", "zero_insertion_skipped"):
        assert int(r[name]) == int(r[f"golden_{name}"]), name
    for key in ("cycles", "cycles_busy", "cycles_stalled", "cycles_idle", "output_mask_skipped",
                "input_zero_skipped", "ideal_cycles", "lanes"):
        assert key in r.files
    assert int(r["cycles"]) >= float(r["ideal_cycles"])


def test_verilog_writes_the_core(tmp_path):
    out = tmp_path / "core.v"
    proc = cli("verilog", "--config", "tiny", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    assert "module ganforge_core" in text and "x_in__payload" in text
    one_line_error(cli("verilog", "--config", "huge", "-o", str(out)))


def test_verilog_writes_the_accelerator(tmp_path):
    """--top accelerator: the whole accelerator (command processor, cores, interconnect,
    engine) from the configuration: one memory port, one register port, the interrupt."""
    out = tmp_path / "accel.v"
    proc = cli("verilog", "--top", "accelerator", "--config", "small", "-o", str(out))
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert proc.stdout.startswith(f"wrote {out}: module ganforge_accelerator, accelerator: "
                                  "command processor, 2 x 16-lane sparse core(s)")
    text = out.read_text()
    header = text[text.index("module ganforge_accelerator("):].split(")", 1)[0]
    for port in ("axi__rdata", "axi__arid", "csr__awaddr", "irq"):
        assert port in header, port
    assert "cmd__payload" not in header            # no host stream: programs drive the cores
    assert text.count("module ganforge_accelerator.cluster.core0(") + \
        text.count("ganforge_accelerator.cluster.core1") >= 2


def test_verilog_writes_the_core_engine(tmp_path):
    """--top core-engine: one host-driven core behind the ROLIN engine."""
    out = tmp_path / "ce.v"
    proc = cli("verilog", "--top", "core-engine", "--config", "tiny", "-o", str(out))
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert proc.stdout.startswith(f"wrote {out}: module ganforge_core_engine, core-engine: a host-driven 4-lane")
    text = out.read_text()
    header = text[text.index("module ganforge_core_engine("):].split(")", 1)[0]
    for port in ("axi__rdata", "csr__awaddr", "cmd__payload", "geom__payload", "irq", "macs_issued"):
        assert port in header, port


def test_verilog_tops_and_their_errors(tmp_path, capsys):
    from ganforge.cli import main
    out = tmp_path / "x.v"
    assert main(["verilog", "--top", "output-stage", "--config", "tiny", "-o", str(out),
                 "--name", "os_top"]) == 0
    assert "module os_top(" in out.read_text()
    assert capsys.readouterr().out.startswith(f"wrote {out}: module os_top, output stage:")
    # a configuration the unit could not be built with: refused by the configuration, which
    # knows the unit's limits, in one line naming the parameter
    assert main(["verilog", "--top", "eors-unit", "--config", "tiny", "--eors-acc-width", "20",
                 "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("ganforge: error: eors_acc_width must be between 31 and 48, got 20")
    # a module name that is not a Verilog identifier
    with pytest.raises(SystemExit):
        main(["verilog", "--config", "tiny", "--name", "1 bad", "-o", str(out)])
    assert "is not a Verilog module name" in capsys.readouterr().err
    # a wrong name: one line listing the choices
    line = one_line_error(cli("verilog", "--top", "gpu", "-o", str(out)))
    assert "'gpu'" in line
    for name in ("core", "eors-unit", "eors-pipeline", "accelerator", "output-stage"):
        assert name in line


def test_sim_op_eors_errors_are_one_line(conv_case, tmp_path):
    path, _, _ = conv_case
    out = str(tmp_path / "o.npz")
    assert "--eors-margin" in one_line_error(cli("sim-op", str(path), "-o", out, "--eors",
                                                 "--eors-margin", "-1"))
    assert "eors_extra_mantissa_bits" in one_line_error(
        cli("sim-op", str(path), "-o", out, "--config", "tiny", "--eors", "--eors-mantissa-bits", "7"))
    assert "eors_acc_width" in one_line_error(
        cli("sim-op", str(path), "-o", out, "--config", "tiny", "--eors", "--eors-acc-width", "99"))
    assert "--dense" in one_line_error(cli("sim-op", str(path), "-o", out, "--config", "tiny",
                                           "--eors", "--dense"))
    assert "--eors-audit needs --eors" in one_line_error(cli("sim-op", str(path), "-o", out,
                                                             "--eors-audit"))
    np.savez(tmp_path / "id.npz", op="conv", x=np.ones((1, 1, 3, 3), int), w=np.ones((1, 1, 1, 1), int))
    assert "activation relu" in one_line_error(cli("sim-op", str(tmp_path / "id.npz"), "-o", out,
                                                   "--config", "tiny", "--eors"))
    np.savez(tmp_path / "big.npz", op="conv", x=np.full((1, 4, 3, 3), 30000), activation="relu",
             w=np.full((1, 4, 1, 1), 30000))
    assert "acc_width" in one_line_error(cli("sim-op", str(tmp_path / "big.npz"), "-o", out,
                                             "--config", "tiny", "--eors", "--eors-acc-width", "31"))


def test_sim_op_eors_audited_and_pipelined(conv_case, tmp_path):
    """sim-op --eors with the audited core and the pipelined top level: exit 0, everything
    bit-exact, the hardware misprediction counts equal the host's."""
    path, x, w = conv_case
    out = tmp_path / "eors.npz"
    proc = cli("sim-op", str(path), "-o", str(out), "--config", "tiny", "--sim", "icarus",
               "--eors", "--eors-margin", "3", "--eors-audit", "--eors-pipelined")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "audited core counter" in proc.stdout and "pipelined (measured)" in proc.stdout
    r = np.load(out)
    assert bool(r["matches_golden"]) and bool(r["audit_matches_golden"])
    assert bool(r["pipelined_matches_golden"])
    assert int(r["audit_false_zero"]) == int(r["eors_false_zero"])
    assert int(r["audit_missed_zero"]) == int(r["eors_missed_zero"])
    assert len(r["pipeline_core_start"]) == x.shape[0]
