"""Bad input, tried as a careless or hostile user would: the command line and the op files.

:data:`CASES` is a catalogue of inputs that ganforge must refuse. :func:`run_cases` runs
each as a user does, ``python -m ganforge ...`` in a subprocess, in a scratch folder,
with a time limit, and sorts what happened:

``refused``
    exit status 1 or 2, and stderr is one line ``ganforge: error: ...`` (argparse's usage
    line before it is allowed) that names what the case expects (``word``);
``traceback``
    a Python traceback, or any other stderr than one error line;
``hang``
    still running after ``timeout`` seconds (killed);
``silent``
    exit status 0: the input was taken as if it were good;
``unclear``
    refused in one line, but the line does not name what was wrong (``word``).

Every case is refused before anything is simulated or synthesised, so the whole
catalogue runs in about a minute; a ``build`` folder appearing in the scratch folder
counts against the case (``built``). ``make bad-inputs`` prints the table
(``scripts/bad_inputs.py``); ``tests/test_bad_inputs.py`` requires every case refused.
"""

import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["Case", "CASES", "OP_FILES", "run_case", "run_cases", "summary_lines"]

#: Kinds of outcome, in the table's order.
OUTCOMES = ("refused", "unclear", "traceback", "hang", "silent", "built")


@dataclass(frozen=True)
class Case:
    """One bad input: ``argv`` after ``ganforge``; ``word`` must appear in the error line.
    ``{dir}`` in an argument is the scratch folder; op files of :data:`OP_FILES` named in
    ``argv`` are written there first."""
    name: str
    argv: tuple
    word: str
    files: tuple = field(default=())


def _x(shape=(1, 2, 8, 8), seed=0):
    return np.random.default_rng(seed).integers(-50, 50, shape)


def _conv(**extra):
    k, kh = extra.pop("k", 3), extra.pop("kh", None)
    hw = extra.pop("hw", 8)
    return dict(op="conv", x=_x((1, 2, hw, hw)), w=_x((2, 2, kh or k, k), 1), **extra)


#: Op files: name -> the arrays ``np.savez`` writes (or raw bytes).
OP_FILES = {
    "empty.npz": b"",
    "text.npz": b"not an npz file\n",
    "random.npz": bytes(np.random.default_rng(7).integers(0, 256, 512, dtype=np.uint8)),
    "zip-head.npz": b"PK\x03\x04" + bytes(64),
    "no-op.npz": dict(x=_x()),
    "bad-op.npz": dict(op="deconv", x=_x()),
    "op-array.npz": dict(op=np.array(["conv", "conv"]), x=_x()),
    "op-int.npz": dict(op=3, x=_x()),
    "no-w.npz": dict(op="conv", x=_x()),
    "x-3d.npz": dict(op="conv", x=_x((2, 8, 8)), w=_x((2, 2, 3, 3))),
    "x-float.npz": dict(op="conv", x=_x().astype(float), w=_x((2, 2, 3, 3))),
    "x-bool.npz": dict(op="conv", x=_x() > 0, w=_x((2, 2, 3, 3))),
    "x-big.npz": dict(op="conv", x=_x() * 1000, w=_x((2, 2, 3, 3))),
    "x-string.npz": dict(op="conv", x=np.array(["a"] * 4).reshape(1, 1, 2, 2), w=_x((2, 2, 3, 3))),
    "channels.npz": dict(op="conv", x=_x(), w=_x((2, 5, 3, 3))),
    "stride-float.npz": _conv(stride=1.7),
    "stride-str.npz": _conv(stride="two"),
    "stride-array.npz": _conv(stride=np.array([1, 2])),
    "stride-zero.npz": _conv(stride=0),
    "stride-3.npz": _conv(stride=3),
    "stride-huge.npz": _conv(stride=10 ** 6),
    "padding-neg.npz": _conv(padding=-1),
    "padding-kernel.npz": _conv(padding=3, hw=2),
    "shift-nan.npz": _conv(shift=np.nan),
    "shift-50.npz": _conv(shift=50),
    "shift-neg.npz": _conv(shift=-2),
    "kernel-7.npz": _conv(k=7),
    "kernel-9.npz": _conv(k=9, hw=12),
    "kernel-0.npz": _conv(k=0),
    "kernel-2x3.npz": _conv(k=3, kh=2),
    "bias-huge.npz": _conv(bias=np.array([2 ** 50, 1])),
    "bias-float.npz": _conv(bias=np.array([0.6, 0.4])),
    "bias-2d.npz": _conv(bias=np.zeros((2, 2), int)),
    "bias-length.npz": _conv(bias=np.zeros(5, int)),
    "mask-int.npz": _conv(out_mask=np.ones((1, 2, 6, 6), int)),
    "mask-shape.npz": _conv(out_mask=np.ones((1, 2, 3, 3), bool)),
    "activation.npz": _conv(activation="tanh"),
    "wg-no-kernel.npz": dict(op="conv_weight_grad", x=_x(), dy=_x((1, 2, 6, 6))),
    "wg-kernel-float.npz": dict(op="conv_weight_grad", x=_x(), dy=_x((1, 2, 6, 6)), kernel_size=3.0),
    "wg-bias.npz": dict(op="conv_weight_grad", x=_x(), dy=_x((1, 2, 6, 6)), kernel_size=3,
                        bias=np.zeros(2, int)),
    "input-hw.npz": dict(op="conv_input_grad", dy=_x((1, 2, 6, 6)), w=_x((2, 2, 3, 3)),
                         input_hw=np.array([8.5, 8])),
    "too-big.npz": _conv(hw=64),
}


def _simop(name, word, *extra):
    return Case(f"sim-op {name}", ("sim-op", f"{{dir}}/{name}", "-o", "{dir}/out.npz", "--config",
                                   "tiny", "--sim", "icarus", *extra), word, (name,))


_GOOD = "kernel-ok.npz"
OP_FILES[_GOOD] = _conv(padding=1)

#: The catalogue.
CASES = (
    # --- the command line itself ------------------------------------------------------
    Case("no command", (), "COMMAND"),
    Case("unknown command", ("synthesise",), "synthesise"),
    Case("unknown option", ("config", "--colour"), "--colour"),
    Case("config: unknown preset", ("config", "--config", "huge"), "huge"),
    Case("config: empty preset", ("config", "--config", ""), "preset"),
    Case("demo: iterations 0", ("demo", "--iterations", "0"), "0"),
    Case("demo: iterations -5", ("demo", "--iterations", "-5"), "-5"),
    Case("demo: iterations text", ("demo", "--iterations", "many"), "many"),
    Case("demo: iterations float", ("demo", "--iterations", "2.5"), "2.5"),
    Case("demo: seed text", ("demo", "--seed", "x"), "x"),
    Case("demo: output unwritable", ("demo", "--quick", "--out", "/proc/ganforge/demo"),
         "cannot write"),
    Case("demo: output a file", ("demo", "--quick", "--out", "{dir}/" + _GOOD), "cannot write",
         (_GOOD,)),
    Case("workloads: unknown show", ("workloads", "--show", "vgg"), "vgg"),
    Case("workloads: iterations 0", ("workloads", "--dcgan-iterations", "0"), "0"),
    Case("workloads: output unwritable", ("workloads", "--out", "/proc/ganforge/w"),
         "cannot write"),
    Case("verilog: no output", ("verilog",), "-o"),
    Case("verilog: unknown top", ("verilog", "--top", "gpu", "-o", "{dir}/x.v"), "gpu"),
    Case("verilog: unknown preset", ("verilog", "--config", "huge", "-o", "{dir}/x.v"), "huge"),
    Case("verilog: bad module name", ("verilog", "--name", "1 bad", "-o", "{dir}/x.v"),
         "module name"),
    Case("verilog: module name with a dash", ("verilog", "--name", "a-b", "-o", "{dir}/x.v"),
         "module name"),
    Case("verilog: output unwritable", ("verilog", "--config", "tiny", "-o",
                                        "/proc/ganforge/x.v"), "cannot write"),
    Case("verilog: output a folder", ("verilog", "--config", "tiny", "-o", "{dir}"),
         "cannot write"),
    Case("verilog: eors accumulator 20", ("verilog", "--top", "eors-unit", "--config", "tiny",
                                          "--eors-acc-width", "20", "-o", "{dir}/x.v"),
         "eors_acc_width"),
    Case("verilog: eors accumulator 99", ("verilog", "--top", "eors-unit", "--eors-acc-width",
                                          "99", "-o", "{dir}/x.v"), "eors_acc_width"),
    Case("verilog: eors mantissa 9", ("verilog", "--top", "eors-unit", "--eors-mantissa-bits",
                                      "9", "-o", "{dir}/x.v"), "eors_extra_mantissa_bits"),
    Case("verilog: eors mantissa text", ("verilog", "--eors-mantissa-bits", "two", "-o",
                                         "{dir}/x.v"), "two"),
    Case("area: unknown component", ("area", "--component", "gpu"), "gpu"),
    Case("area: unknown target", ("area", "--targets", "xilinx"), "xilinx"),
    Case("area: empty targets", ("area", "--targets", ""), "targets"),
    Case("area: jobs 0", ("area", "--jobs", "0"), "0"),
    Case("area: json unwritable", ("area", "--component", "lane", "--json",
                                   "/proc/ganforge/a.json"), "cannot write"),
    Case("train: no --on", ("train",), "--on"),
    Case("train: on golden", ("train", "--on", "golden"), "golden"),
    Case("train: steps 0", ("train", "--on", "rtl", "--steps", "0"), "0"),
    Case("train: batch -1", ("train", "--on", "rtl", "--batch", "-1"), "-1"),
    Case("train: cores 17", ("train", "--on", "rtl", "--cores", "17"), "17"),
    Case("train: unknown sim", ("train", "--on", "rtl", "--sim", "modelsim"), "modelsim"),
    Case("train: unknown mode", ("train", "--on", "rtl", "--mode", "broadcast"), "broadcast"),
    Case("train: output unwritable", ("train", "--on", "rtl", "-o", "/proc/ganforge/t.json"),
         "cannot write"),
    # --- sim-op: its arguments ---------------------------------------------------------
    Case("sim-op: no output", ("sim-op", "{dir}/" + _GOOD), "-o", (_GOOD,)),
    Case("sim-op: missing file", ("sim-op", "{dir}/none.npz", "-o", "{dir}/o.npz"),
         "no such file"),
    Case("sim-op: input a folder", ("sim-op", "{dir}", "-o", "{dir}/o.npz"), "folder"),
    Case("sim-op: unknown sim", ("sim-op", "{dir}/" + _GOOD, "-o", "{dir}/o.npz", "--sim",
                                 "modelsim"), "modelsim", (_GOOD,)),
    _simop(_GOOD, "cannot write", "-o", "/proc/ganforge/o.npz"),
    _simop(_GOOD, "cannot write", "-o", "{dir}"),
    _simop(_GOOD, "cannot write", "--vcd", "/proc/ganforge/w.vcd"),
    _simop(_GOOD, "needs --eors", "--eors-audit"),
    _simop(_GOOD, "needs --eors", "--eors-margin", "5"),
    _simop(_GOOD, "exclude", "--eors", "--dense"),
    _simop(_GOOD, "relu", "--eors"),
    _simop(_GOOD, "-3", "--eors-margin", "-3"),
    # --- sim-op: op files --------------------------------------------------------------
    *(_simop(name, word) for name, word in (
        ("empty.npz", "not a readable"), ("text.npz", "not a readable"),
        ("random.npz", "not a readable"), ("zip-head.npz", "not a readable"),
        ("no-op.npz", "'op'"), ("bad-op.npz", "deconv"), ("op-array.npz", "unknown op"),
        ("op-int.npz", "unknown op"), ("no-w.npz", "'w'"), ("x-3d.npz", "4-D integer"),
        ("x-float.npz", "4-D integer"), ("x-bool.npz", "4-D integer"),
        ("x-big.npz", "16-bit"), ("x-string.npz", "4-D integer"), ("channels.npz", "channels"),
        ("stride-float.npz", "stride must be an integer"),
        ("stride-str.npz", "stride must be an integer"),
        ("stride-array.npz", "stride must be an integer"),
        ("stride-zero.npz", "stride must be at least 1"), ("stride-3.npz", "max_stride"),
        ("stride-huge.npz", "max_stride"), ("padding-neg.npz", "padding must be at least 0"),
        ("padding-kernel.npz", "below the kernel"), ("shift-nan.npz", "shift must be an integer"),
        ("shift-50.npz", "acc_width"), ("shift-neg.npz", "shift must be at least 0"),
        ("kernel-7.npz", "max_kernel"), ("kernel-9.npz", "max_kernel"),
        ("kernel-0.npz", "square kernels"), ("kernel-2x3.npz", "square kernels"),
        ("bias-huge.npz", "accumulator"), ("bias-float.npz", "bias must be a 1-D integer"),
        ("bias-2d.npz", "bias must be a 1-D integer"), ("bias-length.npz", "bias"),
        ("mask-int.npz", "out_mask must be a boolean"), ("mask-shape.npz", "mask"),
        ("activation.npz", "activation must be one of"), ("wg-no-kernel.npz", "kernel_size"),
        ("wg-kernel-float.npz", "kernel_size must be an integer"),
        ("wg-bias.npz", "does not apply"), ("input-hw.npz", "input_hw must be two integers"),
        ("too-big.npz", "exceeds"))),
)


def _write_files(folder, names):
    for name in names:
        content = OP_FILES[name]
        if isinstance(content, bytes):
            (folder / name).write_bytes(content)
        else:
            with open(folder / name, "wb") as f:      # exactly this name
                np.savez(f, **content)


def run_case(case, *, timeout=60):
    """Run ``case`` in a scratch folder; returns ``{"case", "argv", "outcome", "line",
    "seconds"}`` (see the module for the outcomes)."""
    with tempfile.TemporaryDirectory(prefix="ganforge-bad-") as tmp:
        folder = Path(tmp)
        _write_files(folder, case.files)
        argv = [a.replace("{dir}", tmp) for a in case.argv]
        start = time.monotonic()
        try:
            proc = subprocess.run([sys.executable, "-m", "ganforge", *argv], cwd=tmp,
                                  capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"case": case.name, "argv": argv, "outcome": "hang",
                    "line": f"still running after {timeout} s", "seconds": float(timeout)}
        seconds = time.monotonic() - start
        lines = [ln for ln in proc.stderr.splitlines() if not ln.startswith(("usage:", "  "))]
        line = lines[-1] if lines else ""
        if proc.returncode == 0:
            outcome = "silent"
        elif "Traceback" in proc.stderr or len(lines) != 1 or not line.startswith("ganforge"):
            outcome = "traceback"
        elif (folder / "build").exists():
            outcome = "built"
        elif case.word.replace("{dir}", tmp) not in line:
            outcome = "unclear"
        else:
            outcome = "refused"
        if outcome == "traceback":
            line = (proc.stderr.strip().splitlines() or [""])[-1]
        return {"case": case.name, "argv": argv, "outcome": outcome, "line": line.replace(tmp, "DIR"),
                "seconds": round(seconds, 2)}


def run_cases(cases=CASES, *, jobs=2, timeout=60, progress=None):
    """Run every case (``jobs`` at once); a list of :func:`run_case` results in order.
    ``progress(done, total, result)`` after each."""
    results = [None] * len(cases)
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(run_case, c, timeout=timeout): i for i, c in enumerate(cases)}
        for n, fut in enumerate(futures, 1):
            results[futures[fut]] = fut.result()
            if progress is not None:
                progress(n, len(cases), results[futures[fut]])
    return results


def summary_lines(results):
    """The table: cases by outcome, then every case that was not refused cleanly."""
    counts = {k: sum(r["outcome"] == k for r in results) for k in OUTCOMES}
    lines = [f"bad inputs tried: {len(results)}",
             "  " + ", ".join(f"{k} {v}" for k, v in counts.items())]
    for r in results:
        if r["outcome"] != "refused":
            lines.append(f"  {r['outcome']:9s} {r['case']}: {r['line']}")
    return lines
