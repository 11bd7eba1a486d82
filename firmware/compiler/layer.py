"""A layer on the system: command-processor programs that run an FP or EP layer on a group
of cores, the input multicast to the group or unicast to each core.

:func:`sample_passes` splits a layer into its passes one sample at a time, in the
order the store path wants (tiles of output channels ``c0 .. c0+lanes-1`` of one
sample, NCHW). :class:`LayerPlan` turns them into instructions
(:mod:`ganforge.rtl.control.isa`) for :class:`~ganforge.rtl.top.system.System`:

* **multicast**: the group's cores take the output-channel tiles of a sample in
  turn (core ``j`` of the group takes tiles ``j, j+G, ...``). Each pass's input
  (one sample's input chunk) is read once with a ``LOAD`` whose mask is every
  core working on that round; each core gets its own weights (``CORE`` to one
  core).
* **unicast**: the group's cores take the samples in turn; every core runs all
  tiles of its samples, with the same weights (one ``CORE`` to the whole group
  when their passes line up), and each ``LOAD`` goes to one core.

Each core's passes are interleaved pass by pass across the cores, so the cores
work at the same time. Drained tiles are stored with one ``STORE`` per tile,
naming its core; the program waits for all of them (``POLL`` on the cluster's
``stored`` counter, then on the engine's idle DMA).
"""

from dataclasses import dataclass, field

import numpy as np

from ganforge.firmware.registers import encode as reg_encode
from ganforge.rtl.control.isa import Cond

from .cp import instr, pack_beats
from .encode import pass_beats
from .ops import compile_op

__all__ = ["sample_passes", "LayerPlan", "Blobs", "SystemInfo"]


def sample_passes(op, tensors, params, key, *, lanes, weight_depth, out_depth):
    """The layer's passes ``(sample, first input map, first output channel, pass)``: one
    sample at a time, tiles in output-channel order, each tile's input chunks in order."""
    out = []
    for n in range(tensors[key].shape[0]):
        t = {k: (v[n:n + 1] if k == key else v) for k, v in tensors.items()}
        # an output mask (EP through a ReLU) is per sample too
        pn = {k: (v[n:n + 1] if k == "out_mask" else v) for k, v in params.items()}
        prog = compile_op(op, t, lanes=lanes, weight_depth=weight_depth, out_depth=out_depth,
                          balance=False, **pn)
        q0, c0 = 0, 0
        for p in prog.passes:
            if p.desc["slots"] != 0:
                raise ValueError(f"{op}: a pass carries one sample on the accelerator, "
                                 f"got slots {p.desc['slots']}")
            out.append((n, q0, c0, p))
            q0 += p.desc["cin"]
            if p.desc["drain"]:
                q0, c0 = 0, c0 + lanes
    return out


@dataclass
class SystemInfo:
    """What the compiler needs of a :class:`~ganforge.rtl.top.system.System`: its core
    (a :class:`~ganforge.rtl.core.SparseCore` for the layouts), its cores, the bus width,
    its register map and its largest tile."""
    core: object
    cmd_width: int            # bits of a core command beat
    cores: int
    data_width: int           # bits of a bus word
    regmap: object
    max_positions: int
    counter_names: tuple = ()

    @property
    def snapshot_bytes(self):
        """Bytes a SNAPSHOT writes: 8 per counter, whole bus words."""
        return -(-8 * len(self.counter_names) // self.bus_bytes) * self.bus_bytes

    @classmethod
    def of(cls, system):
        return cls(system.cluster.core, system.cluster.cmd_width, system.cores,
                   system.data_width, system.regmap, system.cluster.max_positions,
                   tuple(system.cluster.counter_names))

    @property
    def bus_bytes(self):
        return self.data_width // 8

    def reg(self, name):
        return self.regmap[name].addr


@dataclass
class Blobs:
    """Core command beats placed in memory from ``base`` upwards (bus aligned): ``put``
    returns an address; ``items`` are ``(addr, bytes)`` for the host to write."""
    base: int
    align: int
    items: list = field(default_factory=list)
    _next: int = None

    def put(self, raw):
        if self._next is None:
            self._next = self.base
        addr = self._next
        self.items.append((addr, raw))
        self._next += -(-len(raw) // self.align) * self.align
        return addr

    @property
    def end(self):
        return self.base if self._next is None else self._next


class LayerPlan:
    """Instructions of layers on a system, accumulated into one program.

    Parameters
    ----------
    info : SystemInfo
    blobs : Blobs
        Where the core command beats go.
    """

    def __init__(self, info, blobs):
        self.info, self.blobs = info, blobs
        self.program = []
        self.tiles = 0          # tiles stored by the program so far

    def _reg(self, name, value=None, **fields):
        r = self.info.regmap[name]
        word = reg_encode(r, **fields) if fields else value
        self.program.append(instr("REG", reg=r.addr, value=word))

    def _core(self, mask, beats):
        addr = self.blobs.put(pack_beats(beats, self.info.cmd_width, self.info.data_width))
        self.program.append(instr("CORE", mask=mask, beats=len(beats), addr=addr))

    def start(self, snapshot=None):
        """The program's start: the cluster's counters cleared and, with ``snapshot`` (a
        byte address), every counter written there."""
        self._reg("cluster_counter_clear", 1)
        if snapshot is not None:
            self.program.append(instr("SNAPSHOT", addr=snapshot))

    def layer(self, op, tensors, params, *, inp, out, out_shape, group, mode="multicast"):
        """Append ``op`` on ``tensors`` (golden names: ``x`` or ``dy``, ``w``) with its
        ``params``, reading the input at byte address ``inp`` (NCHW int16) and writing
        ``out_shape`` at ``out``, on the cores of ``group`` (a list of core indices), the
        input ``multicast`` to the group or ``unicast`` to each core."""
        info, lanes = self.info, self.info.core.lanes
        if mode not in ("multicast", "unicast"):
            raise ValueError(f"mode must be 'multicast' or 'unicast', got {mode!r}")
        if not group or len(set(group)) != len(group) or not all(0 <= c < info.cores for c in group):
            raise ValueError(f"group must be distinct core indices below {info.cores}, got {group!r}")
        key = "x" if "x" in tensors else "dy"
        _, C, H, W = tensors[key].shape
        N, Co, P = out_shape[0], out_shape[1], out_shape[2] * out_shape[3]
        if Co % lanes:
            raise ValueError(f"{op}: {Co} output channels do not fill the {lanes} lanes")
        if P > info.max_positions or P % (info.bus_bytes // 2):
            raise ValueError(f"{op}: a tile of {P} positions does not fit the store adapters "
                             f"(at most {info.max_positions}, a multiple of {info.bus_bytes // 2})")
        passes = sample_passes(op, tensors, params, key, lanes=lanes,
                               weight_depth=info.core.weight_depth, out_depth=info.core.out_depth)
        for c in group:
            self._reg(f"cluster_positions_{c}", P)
        self._reg("engine_mode", ld_mode="bypass", st_mode="off", st_discard=0, ld_relu=1)
        tiles = {}                          # (sample, c0) -> [(q0, pass)]
        for n, q0, c0, p in passes:
            tiles.setdefault((n, c0), []).append((q0, p))
        T = Co // lanes
        G = len(group)
        # the work: rounds, each a list of (core, sample, c0) run side by side
        rounds = []
        if mode == "multicast":
            for n in range(N):
                for r in range(0, T, G):
                    rounds.append([(group[j], n, (r + j) * lanes) for j in range(min(G, T - r))])
        else:
            for n0 in range(0, N, G):
                for t in range(T):
                    rounds.append([(group[j], n0 + j, t * lanes) for j in range(min(G, N - n0))])
        for work in rounds:
            lists = [tiles[(n, c0)] for _, n, c0 in work]
            for j in range(len(lists[0])):
                step = [(core, n, c0, *lists[k][j]) for k, (core, n, c0) in enumerate(work)]
                self._step(step, mode, inp, out, C, H, W, Co, P)
        self.tiles += N * T

    def _step(self, step, mode, inp, out, C, H, W, Co, P):
        """One pass on each core of ``step`` (``(core, sample, c0, q0, pass)``)."""
        lanes = self.info.core.lanes
        mask = sum(1 << core for core, *_ in step)
        beats = [pass_beats(self.info.core, p) for *_, p in step]
        if all(b == beats[0] for b in beats):
            self._core(mask, beats[0])          # the same beats: multicast them
        else:
            for (core, *_), b in zip(step, beats):
                self._core(1 << core, b)
        cin = step[0][4].desc["cin"]
        nbytes = cin * H * W * 2
        if mode == "multicast":
            _, n, _, q0, p = step[0]
            self.program.append(instr("GEOM", mask=mask, cin=cin, in_h=p.desc["in_h"],
                                      in_w=p.desc["in_w"]))
            self.program.append(instr("LOAD", tag=0, mask=mask, length=nbytes,
                                      addr=inp + (n * C + q0) * H * W * 2))
        else:
            for core, n, c0, q0, p in step:
                self.program.append(instr("GEOM", mask=1 << core, cin=cin, in_h=p.desc["in_h"],
                                          in_w=p.desc["in_w"]))
                self.program.append(instr("LOAD", tag=0, mask=1 << core, length=nbytes,
                                          addr=inp + (n * C + q0) * H * W * 2))
        for core, n, c0, q0, p in step:
            if p.desc["drain"]:
                self.program.append(instr("STORE", core=core, length=lanes * P * 2,
                                          addr=out + (n * Co + c0) * P * 2))

    def finish(self, snapshot=None):
        """Wait for every tile stored and the engine's DMA idle, write the counters to
        ``snapshot`` (a byte address) if given, then END."""
        st = self.info.regmap["cluster_stored"]
        self.program.append(instr("POLL", reg=st.addr, cond=Cond.GE, mask=0xFFFF_FFFF,
                                  value=self.tiles))
        status = self.info.regmap["engine_status"]
        busy = reg_encode(status, rd_busy=1, wr_busy=1)
        self.program.append(instr("POLL", reg=status.addr, cond=Cond.EQ, mask=busy, value=0))
        if snapshot is not None:
            self.program.append(instr("SNAPSHOT", addr=snapshot))
        self.program.append(instr("END"))
        return self.program
