"""ROLIN units in the Amaranth simulator, bit-exact against golden/instnorm.py.

Data are the real maps of the reference image-to-image generator's IN layers
(:mod:`ganforge.testbench.rolin_ref`), plus synthetic edge cases for the
parameter unit (constant maps, extreme statistics, overflow). Streams are
throttled at random on both sides.
"""

import random

import numpy as np
import pytest
from amaranth.hdl import Elaboratable, Module
from amaranth.lib.memory import Memory

from ganforge.firmware.rolin import ep_settings, fp_settings
from ganforge.golden import instnorm as IN
from ganforge.rtl.rolin.arith import GB_LAYOUT, ep_entry_layout, fp_entry_layout
from ganforge.rtl.rolin.norm import RolinNorm
from ganforge.rtl.rolin.params import ERR_COEF, ERR_OFFSET, RolinParams
from ganforge.rtl.rolin.stats import RolinStats
from ganforge.testbench.rolin_ref import COEF_FRAC, FRAC_XHAT, FRAC_Y, SCALE_FRAC, in_block

from sim_streams import put, simulate, sink

DW, LANES, COUNT_BITS, DEPTH = 16, 4, 16, 64


def words(flat):
    """Pack int16 elements ``flat`` into 4-lane beats (lane 0 in the low bits)."""
    flat = [int(v) & 0xFFFF for v in flat]
    return [sum(flat[i + n] << (16 * n) for n in range(LANES)) for i in range(0, len(flat), LANES)]


def unpack(word):
    out = []
    for n in range(LANES):
        v = (word >> (16 * n)) & 0xFFFF
        out.append(v - 0x10000 if v & 0x8000 else v)
    return out


def fp_entries(b, maps):
    p = b["p"]
    return [{"a": int(p.a[n, c]), "b": int(p.b[n, c]), "rs": int(p.rs[n, c]), "k": int(p.k[n, c]),
             "s1": int(b["s1"][n, c])} for n, c in maps]


def ep_entries(b, maps):
    c = b["c"]
    return [{"c1": int(c.c1[n, ch]), "c2": int(c.c2[n, ch]), "c3": int(c.c3[n, ch])} for n, ch in maps]


class Harness(Elaboratable):
    """A unit with the tables it reads, initialised from the golden entries."""

    def __init__(self, unit, fp=None, ep=None, gb=None):
        self.unit = unit
        self.fp = Memory(shape=fp_entry_layout(DW, COUNT_BITS), depth=DEPTH, init=fp or [])
        self.ep = Memory(shape=ep_entry_layout(), depth=DEPTH, init=ep or [])
        self.gb = Memory(shape=GB_LAYOUT, depth=DEPTH, init=gb or [])
        self.fp_rd, self.ep_rd = self.fp.read_port(), self.ep.read_port()
        self.gb_rd = self.gb.read_port()

    def elaborate(self, platform):
        m = Module()
        m.submodules.unit, u = self.unit, self.unit
        m.submodules.fp, m.submodules.ep, m.submodules.gb = self.fp, self.ep, self.gb
        if hasattr(u, "fp_rd_addr"):
            m.d.comb += [self.fp_rd.addr.eq(u.fp_rd_addr), u.fp_rd_data.eq(self.fp_rd.data)]
        if hasattr(u, "ep_rd_addr"):
            m.d.comb += [self.ep_rd.addr.eq(u.ep_rd_addr), u.ep_rd_data.eq(self.ep_rd.data)]
        if hasattr(u, "gb_rd_addr"):
            m.d.comb += [self.gb_rd.addr.eq(u.gb_rd_addr), u.gb_rd_data.eq(self.gb_rd.data)]
        return m


def run_sim(harness, setup, source, sinks, cycles=200000):
    """Send ``source`` (stream, items) and take from ``sinks`` ({name: (stream, count)}), every
    stream throttled at random; return what arrived, {name: [payload]}. ``setup``: the unit's
    settings, applied (and ``start`` pulsed, if the unit has one) before the first item."""
    u = harness.unit
    rng = random.Random(7)
    got = {name: [] for name in sinks}
    stream_in, items = source

    async def drive(ctx):
        for name, value in setup.items():
            ctx.set(getattr(u, name), value)
        if hasattr(u, "start"):
            ctx.set(u.start, 1)
        await ctx.tick()
        if hasattr(u, "start"):
            ctx.set(u.start, 0)
        await put(ctx, stream_in, items, rng=rng, idle=0.3)

    benches = {"drive": drive}
    for name, (stream, count) in sinks.items():
        benches[f"sink {name}"] = sink(stream, count, got[name], rng=rng, stall=0.3)
    simulate(harness, benches, budget=cycles)
    return got


MAPS = [(0, c) for c in range(6)] + [(1, 0), (1, 1)]     # (sample, channel) maps under test


@pytest.mark.parametrize("mode", ["fp", "ep"])
def test_stats_unit_matches_golden(mode):
    b = in_block("T2.in")                      # 32 channels of 8x8: 16 beats a map
    C, count = b["x"].shape[1], b["count"]
    maps = [(0, c) for c in range(C)][:6] if mode == "fp" else [(0, c) for c in range(6)]
    unit = RolinStats(data_width=DW, lanes=LANES, count_bits=COUNT_BITS, table_depth=DEPTH,
                      chan_bits=6)
    h = Harness(unit, fp=fp_entries(b, maps))
    src = b["x"] if mode == "fp" else b["dy_in"]
    items = []
    for n, c in maps:
        xs, aux = words(src[n, c].reshape(-1)), words(b["x"][n, c].reshape(-1))
        items += [{"x": w, "aux": a} for w, a in zip(xs, aux)]
    ep = ep_settings(frac_x=b["fx"], frac_dy=b["fdy"], frac_dx=b["frac_dx"], frac_gamma=b["fg"],
                     frac_xhat=FRAC_XHAT)
    setup = {"mode": 1 if mode == "fp" else 2, "count": count, "channels": C, "base": 0,
             "scale_frac": SCALE_FRAC, "xhat_base": ep["xhat_base"]}
    got = run_sim(h, setup, (unit.i, items), {"o": (unit.o, len(items)),
                                              "stats": (unit.stats, len(maps))})
    assert [int(v) for v in got["o"]] == [it["x"] for it in items]     # the store data passes unchanged
    for rec, (n, c), i in zip(got["stats"], maps, range(len(maps))):
        if mode == "fp":
            want = (int(b["s1"][n, c]), int(b["s2"][n, c]))
        else:
            want = (int(b["t1"][n, c]), int(b["t2"][n, c]))
            assert (int(rec.rs), int(rec.k)) == (int(b["p"].rs[n, c]), int(b["p"].k[n, c]))
        assert (int(rec.s1), int(rec.s2)) == want, (n, c)
        assert (int(rec.idx), int(rec.chan)) == (i, c)
    assert mode == "fp" or any(b["t2"][n, c] != 0 for n, c in maps)


def _params_case(stats_items, gb, setup, mode, n_expect):
    unit = RolinParams(data_width=DW, count_bits=COUNT_BITS, table_depth=DEPTH, chan_bits=6)
    h = Harness(unit, gb=gb)
    writes, errors = [], []
    rng = random.Random(3)

    async def drive(ctx):
        for name, value in setup.items():
            ctx.set(getattr(unit, name), value)
        await put(ctx, unit.stats, stats_items, rng=rng, idle=0.3)

    async def monitor(ctx):
        en = unit.fp_wr_en if mode == "fp" else unit.ep_wr_en
        data = unit.fp_wr_data if mode == "fp" else unit.ep_wr_data
        addr = unit.fp_wr_addr if mode == "fp" else unit.ep_wr_addr
        tail = 3                                 # an error pulse follows its write by a cycle
        async for _, _, e, a, d, ovf in ctx.tick().sample(en, addr, data, unit.overflow):
            if ovf:
                errors.append((len(writes), int(ovf)))
            if e:
                writes.append((int(a), d))
            if len(writes) >= n_expect:
                tail -= 1
                if not tail:
                    break

    simulate(h, {"drive": drive, f"the {n_expect} table writes": monitor},
             budget=60 * len(stats_items) + 200)
    return writes, errors


def _fp_setup(count, eps_q, fx, fg, scale_frac=SCALE_FRAC):
    s = fp_settings(frac_x=fx, frac_y=FRAC_Y, frac_gamma=fg, scale_frac=scale_frac)
    return {"mode": 1, "count": count, "eps_q": eps_q, "sh_a": s["sh_a"], "b_lshift": s["b_lshift"]}


def test_param_unit_fp_real_maps_bit_exact():
    for name in ("T1.in", "T4.in"):
        b = in_block(name)
        maps = [(n, c) for n in (0, 5) for c in range(0, b["x"].shape[1], 3)]
        items = [{"idx": i, "chan": c, "s1": int(b["s1"][n, c]), "s2": int(b["s2"][n, c]), "rs": 0,
                  "k": 0} for i, (n, c) in enumerate(maps)]
        gb = [{"gamma": int(g), "beta": int(bt)} for g, bt in zip(b["gamma"], b["beta"])]
        writes, errors = _params_case(items, gb, _fp_setup(b["count"], b["eps_q"], b["fx"], b["fg"]),
                                      "fp", len(items))
        assert errors == []
        assert [w[0] for w in writes] == list(range(len(maps)))
        got = [(int(d.a), int(d.b), int(d.rs), int(d.k), int(d.s1)) for _, d in writes]
        want = [(int(b["p"].a[n, c]), int(b["p"].b[n, c]), int(b["p"].rs[n, c]),
                 int(b["p"].k[n, c]), int(b["s1"][n, c])) for n, c in maps]
        assert got == want, name


def test_param_unit_fp_edge_statistics_and_overflow():
    """Constant maps (variance 0), extreme and tiny variances, big counts, left shifts; overflow flags."""
    rng = np.random.default_rng(11)
    cases = []            # (count, x map values, gamma, beta, fx[, scale_frac])
    cases.append((64, np.full(64, 1234), 4096, -300, 13))                  # constant: eps only
    cases.append((64, np.full(64, -32768), 4096, 32767, 14))
    cases.append((256, rng.integers(-32768, 32768, 256), 32767, -32768, 8))  # huge variance
    cases.append((256, rng.integers(-2, 3, 256), 4096, 100, 14))           # tiny variance
    cases.append((65536, np.tile([32767, -32768], 32768), 20000, 0, 0))    # largest count
    cases.append((16, np.arange(16) * 2000 - 16000, -4096, 50, 11))        # negative gamma
    cases.append((64, np.full(64, 7), 32767, 0, 0, 18))  # constant, big gamma: a overflows
    big = rng.integers(-32768, 32768, 64)
    cases.append((64, big, 100, 5, 14, 34))              # sh_a < 0: exact left shifts
    cases.append((64, big, 100, 32767, 14, 34))          # beta << 33: b overflows
    items, want = [], []
    for i, (count, xs, g, bt, fx, *sf) in enumerate(cases):
        sf = sf[0] if sf else SCALE_FRAC
        x = np.asarray(xs, dtype=np.int64).reshape(1, 1, 1, count)
        s1, s2 = IN.in_stats(x)
        eps_q = IN.eps_to_fixed(1e-5, fx)
        try:
            p = IN.in_params(s1, s2, count, np.array([g]), np.array([bt]), frac_x=fx, frac_y=FRAC_Y,
                             frac_gamma=12, eps_q=eps_q, scale_frac=sf)
            want.append((int(p.a[0, 0]), int(p.b[0, 0]), int(p.rs[0, 0]), int(p.k[0, 0])))
        except OverflowError as e:
            want.append("overflow-" + ("a" if "scale a" in str(e) else "b"))
        items.append(({"idx": i, "chan": 0, "s1": int(s1[0, 0]), "s2": int(s2[0, 0]), "rs": 0, "k": 0},
                      count, eps_q, fx, g, bt, sf))
    assert "overflow-a" in want and "overflow-b" in want     # the error paths are exercised
    for (item, count, eps_q, fx, g, bt, sf), w in zip(items, want):
        writes, errors = _params_case([item], [{"gamma": g, "beta": bt}],
                                      _fp_setup(count, eps_q, fx, 12, sf), "fp", 1)
        assert len(writes) == 1
        if isinstance(w, str):
            assert errors and errors[0][1] & (ERR_COEF if w.endswith("a") else ERR_OFFSET), (w, errors)
        else:
            d = writes[0][1]
            assert errors == [] and (int(d.a), int(d.b), int(d.rs), int(d.k)) == w, (count, w)


def test_param_unit_ep_real_maps_bit_exact():
    for name in ("T2.in", "T3.in"):
        b = in_block(name)
        maps = [(n, c) for n in (0, 9) for c in range(0, b["x"].shape[1], 4)]
        items = [{"idx": i, "chan": c, "s1": int(b["t1"][n, c]), "s2": int(b["t2"][n, c]),
                  "rs": int(b["p"].rs[n, c]), "k": int(b["p"].k[n, c])} for i, (n, c) in enumerate(maps)]
        gb = [{"gamma": int(g), "beta": int(bt)} for g, bt in zip(b["gamma"], b["beta"])]
        s = ep_settings(frac_x=b["fx"], frac_dy=b["fdy"], frac_dx=b["frac_dx"], frac_gamma=b["fg"],
                        frac_xhat=FRAC_XHAT, coef_frac=COEF_FRAC)
        setup = {"mode": 2, "count": b["count"], "sh_c": s["sh_c"], "c2_extra": s["c2_extra"]}
        writes, errors = _params_case(items, gb, setup, "ep", len(items))
        assert errors == []
        got = [(int(d.c1), int(d.c2), int(d.c3)) for _, d in writes]
        want = [(int(b["c"].c1[n, c]), int(b["c"].c2[n, c]), int(b["c"].c3[n, c])) for n, c in maps]
        assert got == want, name


@pytest.mark.parametrize("mode", ["bypass", "fp", "ep"])
def test_norm_unit_matches_golden(mode):
    b = in_block("T3.in")
    maps = [(2, c) for c in range(5)]
    unit = RolinNorm(data_width=DW, lanes=LANES, count_bits=COUNT_BITS, table_depth=DEPTH)
    h = Harness(unit, fp=fp_entries(b, maps), ep=ep_entries(b, maps))
    main = b["x"] if mode != "ep" else b["dy_in"]
    items = []
    for n, c in maps:
        items += [{"x": w, "aux": a} for w, a in zip(words(main[n, c].reshape(-1)),
                                                     words(b["x"][n, c].reshape(-1)))]
    ep = ep_settings(frac_x=b["fx"], frac_dy=b["fdy"], frac_dx=b["frac_dx"], frac_gamma=b["fg"],
                     frac_xhat=FRAC_XHAT)
    setup = {"mode": {"bypass": 0, "fp": 1, "ep": 2}[mode], "relu": 1, "count": b["count"],
             "base": 0, "scale_frac": SCALE_FRAC, "coef_frac": COEF_FRAC, "xhat_base": ep["xhat_base"]}
    got = run_sim(h, setup, (unit.i, items), {"o": (unit.o, len(items))})
    values = [v for rec in got["o"] for v in unpack(int(rec.data))]
    masks = [(int(rec.mask) >> n) & 1 for rec in got["o"] for n in range(LANES)]
    want = {"bypass": b["x"], "fp": b["y"], "ep": b["dx"]}[mode]
    want_v = np.concatenate([want[n, c].reshape(-1) for n, c in maps]).tolist()
    want_m = np.concatenate([b["mask"][n, c].reshape(-1) for n, c in maps]).astype(int).tolist()
    assert values == want_v
    assert masks == (want_m if mode != "bypass" else [0] * len(want_m))
    if mode == "fp":
        assert 0 < sum(want_m) < len(want_m)      # both ReLU branches are exercised
