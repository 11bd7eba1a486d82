"""The adapters between the ROLIN engine and the sparse core, in the Amaranth simulator:
random geometries and data, every stream throttled at random, every beat checked."""

import random

import numpy as np
import pytest

from ganforge.rtl.bus.ld_adapter import LoadToElements
from ganforge.rtl.bus.st_adapter import OutputsToMaps

from sim_streams import put, simulate, source, take

DW = 16


def _word(vals, dw=DW):
    return sum((int(v) & ((1 << dw) - 1)) << (dw * n) for n, v in enumerate(vals))


async def _take_then_quiet(ctx, stream, count, rng, *quiet):
    """Take ``count`` payloads from ``stream`` (ready high 70% of the cycles); 20 cycles later
    every signal of ``quiet`` must be low (nothing more to send, no error)."""
    got = await take(ctx, stream, count, rng=rng, stall=0.3)
    await ctx.tick().repeat(20)
    assert not any(ctx.get(s) for s in quiet), [ctx.get(s) for s in quiet]
    return got


def _load_case(rng, words, n_pass):
    """Passes [(geom, tensor [cin, h, w])] with rows a multiple of ``words``."""
    passes = []
    for _ in range(n_pass):
        cin, h, w = rng.randint(1, 3), rng.randint(1, 4), words * rng.randint(1, 3)
        t = np.array([[[rng.choice([0, 0, 1, -1, 32767, -32768, rng.randint(-999, 999)])
                        for _ in range(w)] for _ in range(h)] for _ in range(cin)])
        if rng.random() < 0.3:
            t[:] = 0                                  # an all-zero pass: only the end beat
        passes.append(((cin, h, w), t))
    return passes


@pytest.mark.parametrize("words,keep_zero,seed", [(4, 0, 1), (4, 1, 2), (2, 0, 3), (1, 0, 4), (8, 0, 5)])
def test_load_adapter(words, keep_zero, seed):
    """Coordinates, values and ``end`` of every element beat; zeros dropped or kept."""
    rng = random.Random(seed)
    lanes = 4
    dut = LoadToElements(lanes=lanes, words=words, data_width=DW, coord_bits=6)
    passes = _load_case(rng, words, 8)
    geoms, ld_words, want = [], [], []
    for (cin, h, w), t in passes:
        geoms.append({"cin": cin, "in_h": h, "in_w": w})
        flat = t.reshape(-1)
        ld_words += [{"data": _word(flat[a:a + words]), "mask": 0} for a in range(0, flat.size, words)]
        idx = list(np.ndindex(t.shape))
        for n, (c, i, j) in enumerate(idx):
            last = n == len(idx) - 1
            v = int(t[c, i, j])
            if v or keep_zero or last:
                want.append((int(v != 0 or keep_zero), c, i, j, v, int(last)))
    got = []

    async def sink(ctx):
        ctx.set(dut.keep_zero, keep_zero)
        for p in await _take_then_quiet(ctx, dut.o, len(want), rng, dut.o.valid, dut.geom.valid, dut.error):
            s = p.slot[0]
            got.append((int(s.valid), int(s.ci), int(s.i), int(s.j), int(s.value), int(p.end)))
            assert all(int(p.slot[n].valid) == 0 for n in range(1, lanes))

    simulate(dut, {"words": source(dut.i, ld_words, rng=rng), "geometries": source(dut.geom, geoms, rng=rng),
                   "sink": sink}, budget=40 * len(ld_words) + 10 * len(want) + 200)
    assert got == want


@pytest.mark.parametrize("words,seed", [(4, 6), (2, 7)])
def test_load_adapter_on_1x1_maps(words, seed):
    """1×1 maps (a latent vector): a word holds ``words`` channels; passes of 1×1 maps and
    of ordinary maps mixed."""
    rng = random.Random(seed)
    dut = LoadToElements(lanes=4, words=words, data_width=DW, coord_bits=6)
    passes = []
    for k in range(6):
        cin = words * rng.randint(1, 3)
        shape = (cin, 1, 1) if k % 2 == 0 else (rng.randint(1, 2), 2, words)
        t = np.array([rng.choice([0, 1, -7, 300]) for _ in range(int(np.prod(shape)))]).reshape(shape)
        passes.append((shape, t))
    geoms, ld_words, want = [], [], []
    for (cin, h, w), t in passes:
        geoms.append({"cin": cin, "in_h": h, "in_w": w})
        flat = t.reshape(-1)
        ld_words += [{"data": _word(flat[a:a + words]), "mask": 0} for a in range(0, flat.size, words)]
        idx = list(np.ndindex(t.shape))
        for n, (c, i, j) in enumerate(idx):
            last = n == len(idx) - 1
            v = int(t[c, i, j])
            if v or last:
                want.append((int(v != 0), c, i, j, v, int(last)))
    got = []

    async def sink(ctx):
        for p in await _take_then_quiet(ctx, dut.o, len(want), rng, dut.o.valid, dut.geom.valid, dut.error):
            s = p.slot[0]
            got.append((int(s.valid), int(s.ci), int(s.i), int(s.j), int(s.value), int(p.end)))

    simulate(dut, {"words": source(dut.i, ld_words, rng=rng), "geometries": source(dut.geom, geoms, rng=rng),
                   "sink": sink}, budget=40 * len(ld_words) + 10 * len(want) + 200)
    assert got == want


def test_load_adapter_refuses_bad_geometry():
    """A row that is not a multiple of the word, or a zero field: the geometry is dropped,
    ``error`` is set, and the next good pass runs normally."""
    dut = LoadToElements(lanes=2, words=4, data_width=DW, coord_bits=6)
    geoms = [{"cin": 1, "in_h": 2, "in_w": 6}, {"cin": 0, "in_h": 1, "in_w": 4},
             {"cin": 1, "in_h": 1, "in_w": 4}]
    got = []
    state = {}

    async def sink(ctx):
        p, = await take(ctx, dut.o, 1, stall=0)
        got.append((int(p.slot[0].j), int(p.slot[0].value), int(p.end)))
        state["error"] = ctx.get(dut.error)
        ctx.set(dut.error_clear, 1)
        await ctx.tick()
        ctx.set(dut.error_clear, 0)
        state["cleared"] = ctx.get(dut.error)

    simulate(dut, {"geometries": source(dut.geom, geoms, idle=0),
                   "word": source(dut.i, [{"data": _word([0, 0, 0, 5]), "mask": 0}], idle=0),
                   "sink": sink}, budget=200)
    assert got == [(3, 5, 1)] and state == {"error": 1, "cleared": 0}


def _padded_words(t, lanes, words):
    """A tile's store words: each lane's map in words, the last one padded with zeros."""
    positions = len(t)
    return [_word(list(t[a:a + words, l]) + [0] * max(0, a + words - positions))
            for l in range(lanes) for a in range(0, positions, words)]


@pytest.mark.parametrize("lanes,words,seed,pad", [
    (4, 4, 1, 0), (8, 4, 2, 0), (2, 4, 3, 0), (4, 1, 4, 0), (3, 2, 5, 0),
    (16, 4, 6, 3), (4, 4, 7, 1), (3, 4, 8, 2), (8, 2, 9, 1)])
def test_store_adapter(lanes, words, seed, pad):
    """Tiles of core beats leave as the tile's maps, channel after channel, back to back;
    with ``pad`` positions short of whole words (a 3×3 map on 4-element words) each map's
    last word is padded with zeros, whatever the buffer held there before."""
    rng = random.Random(seed)
    positions = words * rng.randint(2, 5) - pad
    dut = OutputsToMaps(lanes=lanes, words=words, data_width=DW, max_positions=words * 6)
    tiles = [np.array([[rng.randint(-32768, 32767) for _ in range(lanes)] for _ in range(positions)])
             for _ in range(5)]
    beats = [[{"value": int(v), "mask": int(v > 0)} for v in row] for t in tiles for row in t]
    want = [w for t in tiles for w in _padded_words(t, lanes, words)]
    got = []

    async def sink(ctx):
        ctx.set(dut.positions, positions)
        beats = await _take_then_quiet(ctx, dut.o, len(want), rng, dut.o.valid, dut.error)
        got.extend(int(p) for p in beats)

    simulate(dut, {"beats": source(dut.i, beats, rng=rng), "sink": sink},
             budget=20 * len(want) + 10 * len(beats) + 200)
    assert got == want


@pytest.mark.parametrize("lanes,words", [(4, 2), (8, 4), (4, 4)])
def test_store_adapter_one_position(lanes, words):
    """Tiles of one position (1×1 maps): each beat leaves as its lanes, ``words`` at a time;
    then tiles of 2·words positions through the banks as usual."""
    rng = random.Random(lanes * words)
    dut = OutputsToMaps(lanes=lanes, words=words, data_width=DW, max_positions=4 * words)
    one = [[rng.randint(-32768, 32767) for _ in range(lanes)] for _ in range(5)]
    many = [np.array([[rng.randint(-999, 999) for _ in range(lanes)] for _ in range(2 * words)])
            for _ in range(2)]
    got = []

    async def bench(ctx):
        ctx.set(dut.positions, 1)
        beats = [[{"value": v, "mask": 0} for v in row] for row in one]
        await put(ctx, dut.i, beats, rng=rng, idle=0.3)

    async def sink(ctx):
        words_one = await _take_then_quiet(ctx, dut.o, len(one) * lanes // words, rng, dut.o.valid, dut.error)
        got.extend(int(p) for p in words_one)
        ctx.set(dut.positions, 2 * words)
        beats = [[{"value": int(v), "mask": 0} for v in row] for t in many for row in t]
        await put(ctx, dut.i, beats, idle=0)
        got.extend(int(p) for p in await take(ctx, dut.o, 2 * 2 * lanes, stall=0))

    simulate(dut, {"one": bench, "sink": sink}, budget=2000)
    want = [_word(row[a:a + words]) for row in one for a in range(0, lanes, words)]
    want += [_word(t[a:a + words, l]) for t in many for l in range(lanes) for a in range(0, 2 * words, words)]
    assert got == want


def test_store_adapter_pads_with_zeros_not_stale_values():
    """Two tiles of 12 positions fill both buffers; then tiles of 9 positions reuse them:
    their maps' last words carry zeros, not the 12-position tiles' values behind them."""
    lanes, words = 4, 4
    rng = random.Random(11)
    dut = OutputsToMaps(lanes=lanes, words=words, data_width=DW, max_positions=16)
    full = [np.array([[rng.randint(1, 999) for _ in range(lanes)] for _ in range(12)]) for _ in range(2)]
    short = [np.array([[rng.randint(1, 999) for _ in range(lanes)] for _ in range(9)]) for _ in range(2)]
    got = []

    async def bench(ctx):
        ctx.set(dut.positions, 12)
        await put(ctx, dut.i, [[{"value": int(v), "mask": 0} for v in row] for t in full for row in t],
                  idle=0)
        got.extend(int(p) for p in await take(ctx, dut.o, 2 * lanes * 3, stall=0))
        ctx.set(dut.positions, 9)
        await put(ctx, dut.i, [[{"value": int(v), "mask": 0} for v in row] for t in short for row in t],
                  idle=0)
        got.extend(int(p) for p in await take(ctx, dut.o, 2 * lanes * 3, stall=0))

    simulate(dut, {"bench": bench}, budget=2000)
    want = [w for t in full + short for w in _padded_words(t, lanes, words)]
    assert got == want


@pytest.mark.parametrize("positions", [0, 17, 1],
                         ids=["zero", "above-max", "one-position-lanes-not-whole-words"])
def test_store_adapter_bad_positions(positions):
    """No positions, more than ``max_positions``, or 1×1 maps whose lanes are not whole
    words: beats dropped, nothing sent, error set."""
    dut = OutputsToMaps(lanes=2, words=4, data_width=DW, max_positions=16)
    state = {}

    async def bench(ctx):
        ctx.set(dut.positions, positions)
        ctx.set(dut.o.ready, 1)
        await put(ctx, dut.i, [0] * 12, idle=0)
        await ctx.tick().repeat(10)
        state["error"], state["valid"] = ctx.get(dut.error), ctx.get(dut.o.valid)

    simulate(dut, {"bench": bench}, budget=300)
    assert state == {"error": 1, "valid": 0}


@pytest.mark.parametrize("cls,kwargs,word", [
    (LoadToElements, dict(lanes=3), "lanes"), (LoadToElements, dict(words=6), "words"),
    (LoadToElements, dict(data_width=12), "data_width"), (LoadToElements, dict(words=8, coord_bits=2), "coord_bits"),
    (OutputsToMaps, dict(words=3), "words"), (OutputsToMaps, dict(max_positions=10), "max_positions"),
    (OutputsToMaps, dict(data_width=32), "data_width"), (OutputsToMaps, dict(lanes=0), "lanes")])
def test_adapters_refuse_bad_parameters(cls, kwargs, word):
    with pytest.raises(ValueError, match=word):
        cls(**kwargs)
