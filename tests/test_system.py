"""The system in the Amaranth simulator: layers run from programs in memory on groups of
cores, bit-exact against the golden model, with the interconnect's counters.

The host only writes memory and the processor's registers, then waits for the interrupt:
every core command beat, load, store and register setting comes from the program. The
memory stalls at random.
"""

import numpy as np
import pytest

from ganforge.config import core_from_config, engine_from_config, get_preset
from ganforge.firmware.compiler.layer import SystemInfo
from ganforge.golden import reference_result, work_counts
from ganforge.rtl.refuse import unused
from ganforge.rtl.top.system import System
from ganforge.bench.system_cases import dcgan_case, producer_consumer, t3_cut, tiny_system
from ganforge.testbench.system_cases import run_layers


@pytest.mark.parametrize("mode", ["multicast", "unicast"])
def test_conv_layer_on_two_cores(mode):
    tensors, params = t3_cut(samples=2, cin=4, cout=8, hw=8)
    want, _ = reference_result("conv", tensors, **params)
    system = tiny_system(2)
    got = run_layers(system, [dict(op="conv", tensors=tensors, params=params, want=want,
                                   group=[0, 1], mode=mode)])
    assert np.array_equal(got["out"][0], want)
    # the snapshot's counters: the cores' work adds up to the golden work counts, and the
    # cluster's equal its registers
    snap, gold = got["counters"], work_counts("conv", tensors, **params)
    for have, wanted in (("dense_macs", "dense_macs"), ("macs_issued", "effective_macs"),
                         ("input_zero_skipped", "input_zero_skipped")):
        assert sum(snap[f"core{c}.{have}"] for c in range(2)) == gold[wanted], have
    assert min(snap["core0.macs_issued"], snap["core1.macs_issued"]) > 0      # both worked
    c = got["cluster"]
    assert {k: snap[k] for k in c} == c
    assert c["stored"] == 2 * 2                       # 2 samples × 2 tiles of 4 channels
    in_bytes = tensors["x"].size * 2
    if mode == "multicast":
        # each sample's input read once for both cores' tiles: half of unicast's reads
        assert c["ld_bytes"] == in_bytes and c["mcast_bytes"] == in_bytes
    else:
        # each core reads its own sample for each of its two tiles
        assert c["ld_bytes"] == 2 * in_bytes and c["mcast_bytes"] == 0


@pytest.mark.parametrize("layer,phase,cut", [("D2", "FP", (8, 8)), ("D2", "EP", (8, 4)),
                                             ("G2", "FP", (8, 8))],
                         ids=["D2-FP-bias-relu", "D2-EP-relu-mask", "G2-FP-tconv"])
def test_dcgan_layers_on_two_cores(layer, phase, cut):
    """Cuts of trained DCGAN layers: FP with bias and ReLU, the zero-free transposed conv,
    and EP through the ReLU mask (the mask in each core's command beats)."""
    op, tensors, params = dcgan_case(layer, phase, samples=2, cut=cut)
    want, _ = reference_result(op, tensors, **params)
    got = run_layers(tiny_system(2), [dict(op=op, tensors=tensors, params=params, want=want,
                                           group=[0, 1], mode="multicast")])
    assert np.array_equal(got["out"][0], want)
    gold = work_counts(op, tensors, **params)
    assert sum(got["counters"][f"core{c}.macs_issued"] for c in range(2)) == gold["effective_macs"]


def wg_case(layer, *, samples, cut):
    """The weight gradient of a cut of a trained DCGAN layer, with the shift the golden
    training picks (the accumulators' own, :func:`~ganforge.golden.nn.auto_shift`)."""
    from ganforge.golden.nn import auto_shift
    from ganforge.golden.workloads import load_workload
    rec = load_workload("dcgan")[0][layer]
    ci, co = cut
    tconv = rec["op"] == "conv_transpose"
    x = rec["x"][:samples, :ci].astype(np.int64)
    dy = (rec["dy"][:samples, :co] * rec["mask"][:samples, :co]).astype(np.int64)
    op = "conv_transpose_weight_grad" if tconv else "conv_weight_grad"
    params = dict(stride=int(rec["stride"]), padding=int(rec["padding"]), kernel_size=int(rec["kernel"]))
    acc, _ = reference_result(op, {"x": x, "dy": dy}, shift=0, **params)
    params["shift"] = auto_shift(acc, 16)
    return op, {"x": x, "dy": dy}, params


@pytest.mark.parametrize("layer,cut", [("D2", (8, 8)), ("G2", (8, 8)), ("D2", (8, 16))],
                         ids=["D2-WG", "G2-WG-tconv", "D2-WG-cores-change-tiles"])
def test_weight_gradients_on_two_cores(layer, cut):
    """WG: each tile reduces over the samples; the element chunk is multicast to the cores
    whose output channels share it, the other operand (the error map) is in each core's
    command beats; each lane's chunk of the gradient is stored where it belongs. With 16
    output channels a core takes tiles of two channel groups in turn, so a pass must not
    count on an operand an earlier pass of the compiled order left in a bank (it was found
    wrong on the whole D2 WG in a training step, and the bank-reuse check cannot see it)."""
    op, tensors, params = wg_case(layer, samples=2, cut=cut)
    want, _ = reference_result(op, tensors, **params)
    got = run_layers(tiny_system(2), [dict(op=op, tensors=tensors, params=params, want=want,
                                           group=[0, 1], mode="multicast")])
    assert np.array_equal(got["out"][0], want)
    gold = work_counts(op, tensors, **params)
    assert sum(got["counters"][f"core{c}.macs_issued"] for c in range(2)) == gold["effective_macs"]


@pytest.mark.parametrize("cin,cout", [(8, 1), (1, 8)], ids=["T5-like", "T1-like"])
def test_three_by_three_weight_gradients_are_stored_padded(cin, cout):
    """A 3×3 kernel's weight gradient: each lane's map is 9 elements, not whole 4-element
    bus words; the store adapter pads each map with zeros to 12 and the result is stored
    in padded blocks (``LayerPlan.blocks``), read back without the padding. The
    translator's T1 and T5 have such gradients."""
    rng = np.random.default_rng(cin)
    x = rng.integers(-300, 300, (2, cin, 8, 8)) * (rng.random((2, cin, 8, 8)) > 0.3)
    dy = rng.integers(-300, 300, (2, cout, 8, 8))
    tensors = {"x": x, "dy": dy}
    params = dict(stride=1, padding=1, kernel_size=3, shift=6)
    want, _ = reference_result("conv_weight_grad", tensors, **params)
    got = run_layers(tiny_system(2), [dict(op="conv_weight_grad", tensors=tensors, params=params,
                                           want=want, group=[0, 1], mode="multicast")])
    assert np.array_equal(got["out"][0], want)
    gold = work_counts("conv_weight_grad", tensors, **params)
    assert sum(got["counters"][f"core{c}.macs_issued"] for c in range(2)) == gold["effective_macs"]


@pytest.mark.parametrize("mode", ["multicast", "unicast"])
def test_fewer_output_channels_than_lanes(mode):
    """A layer with 2 output channels on 4-lane cores: the idle lanes' words go to a
    scratch region, the result is still exact."""
    op, tensors, params = dcgan_case("G2", "FP", samples=2, cut=(8, 2))
    want, _ = reference_result(op, tensors, **params)
    got = run_layers(tiny_system(2), [dict(op=op, tensors=tensors, params=params, want=want,
                                           group=[0, 1], mode=mode)])
    assert np.array_equal(got["out"][0], want)


@pytest.mark.parametrize("layer,cut,out_channels,mode", [
    ("G1", (8, 8), None, "unicast"), ("D3", (8, 1), 4, "unicast"), ("D3", (8, 1), 4, "multicast")],
    ids=["G1-latent-1x1-in", "D3-logit-1x1-out", "D3-logit-1x1-out-multicast"])
def test_one_by_one_maps(layer, cut, out_channels, mode):
    """The latent vector (G1's 1×1 input: a load word holds several channels) and the
    logits (D3's 1×1 output, one channel: the tile leaves as the beat itself, into
    channels padded to the lanes)."""
    op, tensors, params = dcgan_case(layer, "FP", samples=2, cut=cut)
    want, _ = reference_result(op, tensors, **params)
    got = run_layers(tiny_system(2), [dict(op=op, tensors=tensors, params=params, want=want,
                                           group=[0, 1], mode=mode,
                                           out_channels=out_channels)])
    assert np.array_equal(got["out"][0], want)


def test_two_groups_in_threads_with_an_event_between_them():
    """The producer and consumer of :func:`producer_consumer`, each in a thread: every
    result is exact, although the region core 1 reads holds garbage before the program
    (without the event, core 1 reads the garbage); the same steps in one thread give the
    same results."""
    layers, branches = producer_consumer()
    system = tiny_system(2)
    for parallel in (True, False):
        got = run_layers(system, layers, branches=branches, parallel=parallel, seed=3)
        for k, L in enumerate(layers):
            assert np.array_equal(got["out"][k], L["want"]), (parallel, k)


def test_abort_in_the_middle_of_a_layer_and_the_next_program_runs():
    """ABORT at three points of a two-core layer (loads, computes and stores in flight):
    each program stops with ABORTED, and the same program then runs to its end, exact."""
    op, tensors, params = dcgan_case("D2", "FP", samples=2, cut=(8, 8))
    want, _ = reference_result(op, tensors, **params)
    got = run_layers(tiny_system(2), [dict(op=op, tensors=tensors, params=params, want=want,
                                           group=[0, 1], mode="multicast")],
                     aborts=(300, 900, 1700))
    assert len(got["aborted_at"]) == 3
    assert np.array_equal(got["out"][0], want)


def test_parallel_branches_and_events_are_checked():
    from ganforge.firmware.compiler.layer import Blobs, LayerPlan
    info = SystemInfo.of(unused(tiny_system(2)))
    op, tensors, params = dcgan_case("G2", "FP", samples=1, cut=(8, 4))
    want, _ = reference_result(op, tensors, **params)

    def on(core):
        return lambda p: p.layer(op, tensors, params, addrs={"x": 0x20000}, out=0x40000,
                                 out_shape=want.shape, group=[core])
    plan = LayerPlan(info, Blobs(0x10000, info.bus_bytes), scratch=0x8000)
    with pytest.raises(ValueError, match=r"branches share cores \[1\]"):
        plan.parallel(on(1), on(1))
    with pytest.raises(ValueError, match="1 to 2 branches"):
        plan.parallel(on(0), on(1), on(0))
    with pytest.raises(ValueError, match=r"event must be 0..2 \(the processor's 4 counters"):
        plan.signal(3)


def test_bad_configurations_are_refused_naming_the_parameter():
    """The system refuses what a part refuses, naming the parameter."""
    cfg = get_preset("tiny")
    core, engine = core_from_config(cfg), engine_from_config(cfg)
    for kw, name in ((dict(max_positions=10_000), "max_positions"), (dict(cores=17), "cores"),
                     (dict(engine=dict(engine, data_width=8)), "data_width"),
                     (dict(threads=9), "threads")):
        with pytest.raises(ValueError, match=name):
            System(**dict(dict(cores=2, core=core, engine=engine, max_positions=64), **kw))


def test_multicast_keeps_each_channel_groups_weights_for_every_sample():
    """Multicast FP compiles a run per group of lanes output channels over every sample:
    the weights are loaded once per group, whatever the batch, and the other samples'
    passes reuse them from the core's banks (``wload = 0``)."""
    from ganforge.firmware.compiler.layer import Blobs, LayerPlan
    from ganforge.rtl.core.descriptor import CmdKind
    info = SystemInfo.of(unused(tiny_system(2)))      # read, never simulated
    weights = {}
    for samples in (1, 4):
        op, tensors, params = dcgan_case("G2", "FP", samples=samples, cut=(8, 8))
        want, _ = reference_result(op, tensors, **params)
        plan = LayerPlan(info, Blobs(0x10000, info.bus_bytes), scratch=0x8000)
        plan.layer(op, tensors, params, addrs={"x": 0x20000}, out=0x40000,
                   out_shape=want.shape, group=[0, 1], mode="multicast")
        runs = plan._runs(op, tensors, params, {"x": 0x20000}, 0x40000, want.shape, {})
        passes = [s[2] for run in runs for t in run for s in t.steps]
        weights[samples] = sum(ld["kind"] == CmdKind.WEIGHT for p in passes for ld in p.loads)
        assert sum(p.desc["wload"] for p in passes) == len(runs) * len(runs[0][0].steps)
    assert weights[4] == weights[1] > 0
