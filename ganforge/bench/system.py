"""Training steps on the simulated accelerator: ``ganforge train --on rtl`` and
``make bench-system`` (``scripts/bench_system.py``).

Both run :func:`ganforge.testbench.run_train_steps`: the golden DCGAN training
(:func:`ganforge.golden.train_dcgan`) with every layer op (FP, EP, WG) a program on the
whole accelerator's Verilog, the parameters at the end compared bit for bit with the
golden training's. By default the memory is inside the simulated design
(:class:`~ganforge.testbench.sim_system.SimSystem`, full rate, latency 1), so no Python
runs during a program; ``memory="model"`` uses cocotbext-axi's AxiRam instead.

Every number is measured in the RTL simulation, each beside its limit:

* **cycles**: from the host's GO to the interrupt, per program. The ideal is the
  program's MACs (the cores' ``macs_issued`` counters: the work left after both
  sparsities are skipped) over every lane of the system, one MAC per lane per cycle;
  utilisation = ideal / cycles. Beside it the memory's limit: the ideal bytes (below)
  at one bus word a cycle; a program can be no faster than the larger of the two
  (``limit``), and at a small batch the weights alone often set it.
* **bytes**: what the memory read and wrote during the program (its own beat counters;
  instruction fetches and core command beats included), against each tensor the op
  reads and writes moved once (two bytes an element).

Tables are by phase (FP, EP, WG) and by layer and phase. What still runs on the host
between programs: see :mod:`ganforge.firmware.schedule.device`.
"""

import dataclasses
import json
import os
import tempfile
import time

from ganforge.bench import Follow, log

__all__ = ["count_programs", "train_on_rtl", "summarize", "table_lines", "run_bench",
           "ELEMENT_BYTES"]

#: Bytes of a tensor element in memory (the 16-bit data path).
ELEMENT_BYTES = 2
PHASES = ("FP", "EP", "WG")


def count_programs(steps, batch, seed=0):
    """The programs ``steps`` training steps of ``batch`` samples run: one per layer op the
    golden training sends to its device (counted with a device that returns the golden
    result)."""
    from ganforge.golden.nn import Arith
    from ganforge.golden.train import train_dcgan

    class Count:
        n = 0

        def run(self, layer, phase, op, tensors, params, expect):
            Count.n += 1
            return expect

    train_dcgan(Arith(fixed=True), iterations=steps, batch=batch, seed=seed, device=Count())
    return Count.n


def _progress_bar(total, desc, quiet):
    """``show(message)`` for :class:`Follow`: a tqdm bar over the programs (stderr)."""
    if quiet:
        return None, None
    import sys
    from tqdm import tqdm
    bar = tqdm(total=total, desc=desc, unit="prog", file=sys.stderr, dynamic_ncols=True)

    def show(message):
        if message.startswith("program "):
            bar.update(1)
            bar.set_postfix_str(message.split(":", 1)[1].strip()[:60])
    return bar, show


def train_on_rtl(config, *, steps=1, batch=1, sim="verilator", mode="multicast",
                 memory="rtl", seed=0, quiet=False, desc="train", build_root="build/sim"):
    """Run ``steps`` DCGAN training steps of ``batch`` samples on the System of ``config``
    (an :class:`~ganforge.config.AcceleratorConfig`), with a progress bar unless ``quiet``.
    Returns the bench's result (:func:`~ganforge.testbench.run_train_steps`) with
    ``lanes``, ``cores`` and ``seconds`` added."""
    from ganforge.config import system_from_config
    from ganforge.testbench import run_train_steps
    system = system_from_config(config)
    total = count_programs(steps, batch, seed)
    fd, log_path = tempfile.mkstemp(prefix="train-rtl-", suffix=".log")
    os.close(fd)
    bar, show = _progress_bar(total, desc, quiet)
    start = time.monotonic()
    try:
        with Follow(log_path, show):
            res = run_train_steps(system, steps=steps, batch=batch, seed=seed, mode=mode,
                                  sim=sim, memory=memory, build_root=build_root, log_file=log_path)
    finally:
        if bar is not None:
            bar.close()
    os.unlink(log_path)
    res.update(lanes=system["cores"] * config.lanes_per_core, cores=system["cores"],
               bus_bytes=config.axi_data_width // 8,
               seconds=round(time.monotonic() - start, 1), sim=sim, memory=memory, mode=mode)
    return res


def _program_numbers(entry, lanes, bus_bytes):
    macs = sum(v for k, v in entry["counters"].items() if k.endswith(".macs_issued"))
    ideal_bytes = ELEMENT_BYTES * sum(entry["elements"].values())
    out = {"cycles": entry["cycles"], "macs": macs, "ideal_cycles": macs / lanes,
           "ideal_bytes": ideal_bytes, "memory_cycles": ideal_bytes / bus_bytes,
           "limit_cycles": max(macs / lanes, ideal_bytes / bus_bytes)}
    if "mem_bytes" in entry:
        out["bytes"] = entry["mem_bytes"]["read"] + entry["mem_bytes"]["written"]
    return out


def summarize(res):
    """Totals of a run's programs: ``total``, ``by_phase`` and ``by_layer`` (``"G1 FP"``),
    each ``cycles``, ``macs``, ``ideal_cycles`` (MACs / lanes), ``memory_cycles`` (the
    ideal bytes at one bus word a cycle), ``limit_cycles`` (per program the larger of the
    two, summed), ``utilisation`` (ideal / cycles), ``programs``, ``ideal_bytes`` and,
    with the memory inside the design, ``bytes``."""
    lanes, bus_bytes = res["lanes"], res["bus_bytes"]
    groups = {"total": {}, "by_phase": {}, "by_layer": {}}

    def add(d, n):
        for k, v in n.items():
            d[k] = d.get(k, 0) + v
        d["programs"] = d.get("programs", 0) + 1

    for e in res["programs"]:
        n = _program_numbers(e, lanes, bus_bytes)
        add(groups["total"], n)
        add(groups["by_phase"].setdefault(e["phase"], {}), n)
        add(groups["by_layer"].setdefault(f"{e['layer']} {e['phase']}", {}), n)
    for d in [groups["total"], *groups["by_phase"].values(), *groups["by_layer"].values()]:
        d["utilisation"] = d["ideal_cycles"] / d["cycles"] if d["cycles"] else 0.0
    groups["by_phase"] = {p: groups["by_phase"][p] for p in PHASES if p in groups["by_phase"]}
    return groups


def table_lines(summary, *, layers=True):
    """The printed table of :func:`summarize`'s result."""
    has_bytes = "bytes" in summary["total"]
    head = (f"{'':10} {'progs':>5} {'cycles':>10} {'MAC id.':>9} {'mem id.':>9} {'limit':>9} "
            f"{'x limit':>7} {'util':>6}"
            + (f" {'bytes':>10} {'ideal B':>9} {'x ideal':>7}" if has_bytes else ""))
    lines = [head]

    def row(name, d):
        s = (f"{name:10} {d['programs']:5d} {d['cycles']:10d} {d['ideal_cycles']:9.0f} "
             f"{d['memory_cycles']:9.0f} {d['limit_cycles']:9.0f} "
             f"{d['cycles'] / max(d['limit_cycles'], 1e-9):7.2f} {100 * d['utilisation']:5.1f}%")
        if has_bytes:
            s += f" {d['bytes']:10d} {d['ideal_bytes']:9d} {d['bytes'] / d['ideal_bytes']:7.2f}"
        return s

    for p, d in summary["by_phase"].items():
        lines.append(row(p, d))
    lines.append(row("step(s)", summary["total"]))
    if layers:
        lines.append("by layer:")
        for name, d in summary["by_layer"].items():
            lines.append(row(name, d))
    return lines


def _with_cores(config, cores):
    return dataclasses.replace(config, clusters=1, cores_per_cluster=cores)


def run_bench(config, config_name, *, cores=(1, 2, 4), batch=2, seed=0, sim="verilator",
              out="build/bench/system.json", png=None, quiet=False, executor=None):
    """``make bench-system``: one DCGAN training step of ``batch`` samples on ``config``'s core
    at each count of ``cores`` (one cluster), through ``executor`` (None: one after the
    other). Writes ``out`` (JSON) and ``png``; returns ``(report, lines)``."""
    configs = {n: _with_cores(config, n) for n in cores}
    items = [(configs[n], n, batch, seed, sim, quiet) for n in cores]
    start = time.monotonic()
    if executor is None:
        results = [_one(item) for item in items]
    else:
        results = list(executor.map(_one, items, names=[f"{n} core(s)" for n in cores]))
    report = {"schema": "ganforge-bench-system/1", "workload": "dcgan", "config": config_name,
              "lanes_per_core": config.lanes_per_core, "batch": batch, "steps": 1, "sim": sim,
              "memory": "rtl, full rate, latency 1", "seconds": round(time.monotonic() - start, 1),
              "runs": {}}
    lines = [f"one DCGAN training step, batch {batch}, {config_name}'s core "
             f"({config.lanes_per_core} lanes), {sim}; measured in the RTL; ideal cycles = "
             f"MACs issued / lanes, ideal bytes = each tensor of each op once"]
    for n, res in zip(cores, results):
        s = summarize(res)
        report["runs"][str(n)] = {"cores": n, "lanes": res["lanes"], "equal": res["equal"],
                                  "summary": s, "traffic": res["traffic"]}
        lines.append(f"\n{n} core(s), {res['lanes']} lanes: parameters equal to the golden "
                     f"training's: {res['equal']}")
        lines += table_lines(s, layers=False)
    if len(cores) > 1:
        lines.append("\nspeed-up per doubling of cores, by phase (cycles of n / cycles of 2n):")
        for a, b in zip(cores, cores[1:]):
            sa, sb = (report["runs"][str(k)]["summary"] for k in (a, b))
            parts = [f"{p} {sa['by_phase'][p]['cycles'] / sb['by_phase'][p]['cycles']:.2f}x"
                     for p in sa["by_phase"]]
            lines.append(f"  {a} -> {b}: " + ", ".join(parts) + f", step "
                         f"{sa['total']['cycles'] / sb['total']['cycles']:.2f}x")
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w") as f:
        json.dump(report, f, indent=1)
    if png:
        _plot(report, png)
    return report, lines


def _one(item):
    config, n, batch, seed, sim, quiet = item
    return train_on_rtl(config, steps=1, batch=batch, seed=seed, sim=sim, quiet=quiet,
                        desc=f"{n} core(s)")


def _plot(report, png):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    runs = list(report["runs"].values())
    fig, ax = plt.subplots(figsize=(7, 4))
    width = 0.8 / len(runs)
    for k, r in enumerate(runs):
        phases = list(r["summary"]["by_phase"])
        xs = [i + k * width for i in range(len(phases))]
        ax.bar(xs, [r["summary"]["by_phase"][p]["cycles"] for p in phases], width,
               label=f"{r['cores']} core(s)")
        ax.scatter(xs, [r["summary"]["by_phase"][p]["ideal_cycles"] for p in phases],
                   marker="_", s=200, color="black", zorder=3,
                   label="MACs / lanes" if k == 0 else None)
        ax.scatter(xs, [r["summary"]["by_phase"][p]["limit_cycles"] for p in phases],
                   marker="_", s=200, color="red", zorder=3,
                   label="limit: max(MACs, memory)" if k == 0 else None)
    ax.set_xticks([i + width * (len(runs) - 1) / 2 for i in range(len(phases))], phases)
    ax.set_ylabel("cycles (RTL)")
    ax.set_title(f"DCGAN training step, batch {report['batch']}")
    ax.legend()
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(png)), exist_ok=True)
    fig.savefig(png, dpi=120)
    plt.close(fig)
    log(f"wrote {png}")
