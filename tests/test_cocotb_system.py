"""The whole accelerator (rtl/top/system.py: command processor, ROLIN engine, cluster of
cores) as generated Verilog under cocotb: layer programs run from memory, AxiRam as
external memory with every AXI channel throttled, the registers over AXI-Lite, bit-exact
against the golden model (testbench/tb_system.py; tests/test_system.py is the same check
in the Amaranth simulator)."""

import random

import pytest

from ganforge.config import get_preset, system_from_config
from ganforge.testbench import run_system_layers

LANES = get_preset("tiny").lanes_per_core


def tiny(cores):
    """The System of the ``tiny`` preset with ``cores`` cores."""
    return dict(system_from_config(get_preset("tiny")), cores=cores)


def t3(group, mode, *, samples=2, cin=4, cout=8, hw=8):
    """A cut of the i2i generator's T3 (conv 3×3, stride 1) on the cores of ``group``."""
    return dict(layer="T3", samples=samples, cin=cin, cout=cout, hw=hw, group=group, mode=mode)


def check_interconnect(res, layers, cores):
    """The program's cluster counters against what the layers must move: each sample's input
    read once per round of the group's tiles when multicast (and delivered to the round's
    other cores beside: ``mcast_bytes`` counts the copies beyond the first), once per tile
    when unicast; one store per tile. Every core of a group worked, no other core did."""
    c = res["counters"]
    ld = mcast = stored = 0
    for L in layers:
        tiles, G = L["cout"] // LANES, len(L["group"])
        in_bytes = L["samples"] * L["cin"] * L["hw"] ** 2 * 2
        assert tiles % G == 0 and G > 1         # every round on all the group: all multicast
        if L["mode"] == "multicast":
            ld += in_bytes * tiles // G
            mcast += in_bytes * tiles // G * (G - 1)
        else:
            ld += in_bytes * tiles
        stored += L["samples"] * tiles
    assert (c["ld_bytes"], c["mcast_bytes"], c["stored"]) == (ld, mcast, stored), c
    used = {core for L in layers for core in L["group"]}
    assert all(c[f"core{k}.macs_issued"] > 0 for k in used), c
    assert all(c[f"core{k}.macs_issued"] == 0 for k in set(range(cores)) - used), c
    assert res["cycles"] > 0 and res["retired"] > 0


def test_system_layers_icarus(tmp_path):
    """Two cores, T3 cut to 2 samples, 4 → 8 channels, 8×8: multicast then unicast, one program.
    Then the program reset in the middle, at three points, and aborted at one, each
    followed by a bit-exact run that writes nothing outside its outputs."""
    layers = [t3([0, 1], "multicast"), t3([0, 1], "unicast")]
    # run_system_layers raises BenchError if the cocotb test fails or does not finish.
    res = run_system_layers(layers, tiny(2), sim="icarus", throttle=0.3, seed=1,
                            build_root=str(tmp_path), resets=(25, 1500, 6000), aborts=(3000,))
    check_interconnect(res, layers, 2)
    assert [r["busy"] for r in res["resets"]] == [1, 1, 1], res["resets"]
    assert [r["busy"] for r in res["aborts"]] == [1], res["aborts"]


@pytest.mark.slow
@pytest.mark.parametrize("memory", ["model", "rtl"])
def test_system_layers_verilator(tmp_path, memory):
    """Four cores, T3 cut to 16 output channels, multicast and unicast on all four, then a
    layer of 8 input channels on two of them named out of order; the memory is
    cocotbext-axi's with every channel paused at random, or the one inside the design at a
    third of the rate with a latency of 7. With the model memory, the program is then reset
    at three points drawn at random (seeded) over its first run, and aborted at three
    others, each followed by a bit-exact run that writes nothing outside its outputs."""
    layers = [t3([0, 1, 2, 3], "multicast", cout=16), t3([0, 1, 2, 3], "unicast", cout=16),
              t3([3, 1], "multicast", samples=1, cin=8)]
    slow_memory = dict(throttle=0.3) if memory == "model" else dict(rate=(1, 3), latency=7)
    resets = sorted(random.Random(7).sample(range(20, 8000), 3)) if memory == "model" else ()
    aborts = sorted(random.Random(8).sample(range(20, 8000), 3)) if memory == "model" else ()
    res = run_system_layers(layers, tiny(4), sim="verilator", seed=2, memory=memory,
                            build_root=str(tmp_path), resets=resets, aborts=aborts,
                            **slow_memory)
    check_interconnect(res, layers, 4)
    assert [r["cycle"] for r in res.get("resets", [])] == list(resets), res.get("resets")
    assert all(r["busy"] for r in res.get("resets", [])), res.get("resets")
    assert [r["cycle"] for r in res.get("aborts", [])] == list(aborts), res.get("aborts")
    assert all(r["busy"] for r in res.get("aborts", [])), res.get("aborts")


def test_memory_inside_the_design_icarus(tmp_path):
    """The same layers with the memory inside the simulated design (SimSystem: the AXI RAM of
    rtl/bus/axi_ram.py, the host's backdoor), bit-exact at the full rate and at a quarter
    of it with a latency of 12 cycles; the slower memory costs cycles, the counters do not
    change."""
    layers = [t3([0, 1], "multicast"), t3([0, 1], "unicast")]
    fast = run_system_layers(layers, tiny(2), sim="icarus", memory="rtl", build_root=str(tmp_path))
    slow = run_system_layers(layers, tiny(2), sim="icarus", memory="rtl", rate=(1, 4), latency=12,
                             build_root=str(tmp_path))
    check_interconnect(fast, layers, 2)
    check_interconnect(slow, layers, 2)
    assert slow["cycles"] > fast["cycles"]
    assert {k: v for k, v in slow["counters"].items() if "cycles" not in k and "blocked" not in k
            and "waiting" not in k} == \
           {k: v for k, v in fast["counters"].items() if "cycles" not in k and "blocked" not in k
            and "waiting" not in k}
