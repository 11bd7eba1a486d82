"""A layer on the system: command-processor programs that run an FP or EP layer on a group
of cores, the input multicast to the group or unicast to each core.

:func:`sample_passes` splits a layer into its passes one sample at a time, in the
order the store path wants (tiles of output channels ``c0 .. c0+lanes-1`` of one
sample, NCHW). :class:`LayerPlan` turns them into instructions
(:mod:`ganforge.rtl.control.isa`) for :class:`~ganforge.rtl.top.system.System`:

* **multicast** (FP, EP): the group's cores take the groups of ``lanes`` output
  channels in turn (core ``j`` of the group takes groups ``j, j+G, ...``), each
  group a *run*: its tiles of every sample, compiled as one core's program, so its
  weights load once and stay in the core's two banks for every sample
  (:meth:`LayerPlan._runs`). The runs of a round see the same inputs in the same
  order, so each pass's input (one sample's input chunk) is read once with a
  ``LOAD`` whose mask is every core of the round; each core gets its own weights
  (``CORE`` to one core). WG: tiles with the same inputs side by side.
* **unicast**: the group's cores take the samples in turn; every core runs all
  tiles of its samples, with the same weights (one ``CORE`` to the whole group
  when their passes line up), and each ``LOAD`` goes to one core.

Each core's passes are interleaved pass by pass across the cores, so the cores
work at the same time. Drained tiles are stored with one ``STORE`` per tile,
naming its core; the program waits for all of them (``POLL`` on the cluster's
``stored`` counter, then on the engine's idle DMA).

:meth:`LayerPlan.parallel` runs layers on disjoint groups at the same time: each
group's instructions in a thread of its own (``FORK``), which raises an event
(``SIGNAL``) once it has issued them all; the first thread waits for those events
(``WAITEV``) before it waits for the stores.
"""

from dataclasses import dataclass, field

import numpy as np

from ganforge.firmware.registers import encode as reg_encode
from ganforge.rtl.control.isa import INSTR_BYTES, Cond
from ganforge.rtl.top.system import IDLE_WRITES

from ganforge.golden.ops import op_spec
from ganforge.rtl.core.descriptor import Op

from .check import check_program
from .cp import instr, pack_beats
from .encode import pass_beats
from .ops import compile_op

__all__ = ["sample_passes", "runs", "padded_block", "result_elements", "unpad", "Tile", "LayerPlan", "Blobs", "SystemInfo"]


def sample_passes(op, tensors, params, key, *, lanes, weight_depth, out_depth):
    """The layer's passes ``(sample, first input map, first output channel, pass)``: one
    sample at a time, tiles in output-channel order, each tile's input chunks in order."""
    out = []
    for n in range(tensors[key].shape[0]):
        t = {k: (v[n:n + 1] if k == key else v) for k, v in tensors.items()}
        # an output mask (EP through a ReLU) is per sample too
        pn = {k: (v[n:n + 1] if k == "out_mask" else v) for k, v in params.items()}
        prog = compile_op(op, t, lanes=lanes, weight_depth=weight_depth, out_depth=out_depth,
                          balance=False, pack_samples=False, reuse=False, **pn)
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
    threads: int = 1          # the command processor's threads
    events: int = 2           # its event counters

    @property
    def snapshot_bytes(self):
        """Bytes a SNAPSHOT writes: 8 per counter, whole bus words."""
        return -(-8 * len(self.counter_names) // self.bus_bytes) * self.bus_bytes

    @classmethod
    def of(cls, system):
        return cls(system.cluster.core, system.cluster.cmd_width, system.cores,
                   system.data_width, system.regmap, system.cluster.max_positions,
                   tuple(system.cluster.counter_names), system.processor.threads,
                   system.processor.events)

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


@dataclass
class Tile:
    """Passes that accumulate into one tile of a core and drain it once.

    ``steps``: ``[(input address, input bytes, pass, channels loaded)]``; ``stores``: ``[(address, bytes)]``
    of the drained words in the order they leave the core's store adapter; ``positions``:
    the words each lane drains; ``key``: the input sequence (tiles with equal keys can
    share their loads: multicast)."""
    steps: list
    stores: list
    positions: int

    @property
    def key(self):
        return tuple((a, n) for a, n, *_ in self.steps)


def padded_block(positions, words):
    """Elements a lane's map of ``positions`` takes in memory behind the store adapter:
    whole ``words``-element bus words (``positions`` itself when it is 1: 1×1 maps leave
    unpadded)."""
    return positions if positions == 1 else -(-positions // words) * words


def result_elements(op, shape, words):
    """Elements to reserve for ``op``'s result of ``shape`` (NCHW, as stored): a weight
    gradient's maps may be stored in padded blocks (room for the most padding, one map a
    block: a block of several maps pads no more)."""
    n, positions = int(np.prod(shape)), int(np.prod(shape[2:]))
    if op_spec(op).kind == "wg" and positions:
        return n // positions * padded_block(positions, words)
    return n


def unpad(flat, blocks, shape):
    """The result of ``shape`` from the ``flat`` elements a layer stored: as they are when
    ``blocks`` (:attr:`LayerPlan.blocks`) is None, else each block's padding dropped."""
    n = int(np.prod(shape))
    if blocks is None:
        return np.asarray(flat)[:n].reshape(shape)
    positions, block = blocks
    return np.asarray(flat)[:n // positions * block].reshape(-1, block)[:, :positions].reshape(shape)


def runs(shape, index):
    """The contiguous runs ``[(first element, count)]``, in C order, of ``index`` (an index
    tuple of ``shape``), as the region's elements are laid out in the row-major tensor."""
    flat = np.arange(int(np.prod(shape))).reshape(shape)[index].reshape(-1)
    cuts = np.flatnonzero(np.diff(flat) != 1) + 1
    return [(int(r[0]), len(r)) for r in np.split(flat, cuts)]


class LayerPlan:
    """Instructions of layers on a system, accumulated into one program.

    Parameters
    ----------
    info : SystemInfo
    blobs : Blobs
        Where the core command beats go.
    scratch : int or None
        A byte address with room for one lane's drain (``max_positions`` elements): where
        the words of idle lanes go (a layer with fewer output channels than lanes).
    base : int
        The byte address the program is loaded at (``FORK`` names its threads' addresses).
    """

    def __init__(self, info, blobs, scratch=None, base=0):
        self.info, self.blobs, self.scratch, self.base = info, blobs, scratch, base
        self.program = []
        self.stores = 0         # STOREs issued by the program so far
        self.scratch_bytes = 0  # bytes written for idle lanes
        self._positions = {}    # core -> its store adapter's tile size
        self.cores_used = set()             # cores its layers ran on
        self._threads = []      # (index of the FORK in program, thread, its instructions)
        self.blocks = None      # the last layer's padded result layout (see layer())
        self._signals = {}      # thread -> SIGNALs its bodies raise so far

    def _reg(self, name, value=None, **fields):
        r = self.info.regmap[name]
        word = reg_encode(r, **fields) if fields else value
        self.program.append(instr("REG", reg=r.addr, value=word))

    def _core(self, mask, beats):
        addr = self.blobs.put(pack_beats(beats, self.info.cmd_width, self.info.data_width))
        self.program.append(instr("CORE", mask=mask, beats=len(beats), addr=addr))

    def _wait_stores(self):
        st = self.info.regmap["cluster_stored"]
        self.program.append(instr("POLL", reg=st.addr, cond=Cond.GE, mask=0xFFFF_FFFF,
                                  value=self.stores))

    def start(self, snapshot=None):
        """The program's start: the cluster's counters cleared and, with ``snapshot`` (a
        byte address), every counter written there."""
        self._reg("cluster_counter_clear", 1)
        if snapshot is not None:
            self.program.append(instr("SNAPSHOT", addr=snapshot))

    # --- the tiles of a layer ---------------------------------------------------------
    def _stores(self, p, out, shape, n0=0, c0=None, sample=0, padded=False):
        """Where pass ``p``'s drained words go: each lane's place in the result (of the
        stored ``shape``; places' samples shifted by ``n0``), as runs. An idle lane's words
        go to its padding channel ``c0 + lane`` of ``sample`` when the stored shape has one
        (FP/EP), else to the scratch region.

        ``padded`` (weight gradients): when a lane's ``positions`` are not whole bus words
        the store adapter pads each lane's map to whole words, so the result is stored in
        blocks: every ``positions`` elements of the row-major result take
        :func:`padded_block` elements (:attr:`LayerPlan.blocks`)."""
        bb, positions = self.info.bus_bytes, None
        stores = []
        for place in p.places:
            if place is None:
                continue
            index, sub = place
            positions = int(np.prod(sub))
        block = padded_block(positions, bb // 2) if padded else positions
        places = list(p.places)
        if c0 is not None:
            places = [(((sample, c0 + lane), None) if pl is None and c0 + lane < shape[1] else pl)
                      for lane, pl in enumerate(places)]
        for place in places:
            if place is None:
                if self.scratch is None:
                    raise ValueError("a layer with idle lanes needs a scratch region")
                stores.append((self.scratch, block * 2))
                self.scratch_bytes += block * 2
                continue
            index, _ = place
            index = (index[0] + n0, *index[1:]) if n0 else index
            for first, count in runs(shape, index):
                if block != positions:          # whole blocks, each padded to ``block``
                    if first % positions or count % positions:
                        raise ValueError(f"a lane's {count} outputs at element {first} are not "
                                         f"whole blocks of {positions}: cannot pad them")
                    first, count = first // positions * block, count // positions * block
                addr, nbytes = out + 2 * first, 2 * count
                if stores and stores[-1][0] + stores[-1][1] == addr and stores[-1][0] != self.scratch:
                    stores[-1] = (stores[-1][0], stores[-1][1] + nbytes)     # one run
                else:
                    stores.append((addr, nbytes))
        for addr, nbytes in stores:
            if addr % bb or nbytes % bb:
                raise ValueError(f"a run of {nbytes // 2} outputs at byte {addr - out} of the "
                                 f"result is not whole {bb}-byte bus words: the store path "
                                 f"cannot write it (pad the stored channels: out_channels)")
        return stores, positions

    def _load(self, name, C, H, W, q0, cin, stored):
        """The bytes a pass's ``cin`` channels from ``q0`` of tensor ``name`` load, and the
        channels the load adapter counts: 1×1 maps are read in whole bus words, the extra
        channels from the stored padding (zeros: dropped before the core)."""
        words = self.info.bus_bytes // 2
        load = cin
        if (cin * H * W) % words:
            if H * W != 1:
                raise ValueError(f"{name}: a row of {W} elements is not whole bus words")
            load = -(-cin // words) * words
            if q0 + load > stored:
                raise ValueError(f"{name}: 1×1 maps of {C} channels must be stored padded to a "
                                 f"multiple of {words} channels (in_channels)")
        return load * H * W * 2, load

    def _tiles(self, op, tensors, params, addrs, out, out_shape, stored):
        info, lanes = self.info, self.info.core.lanes
        spec = op_spec(op)
        kw = dict(lanes=lanes, weight_depth=info.core.weight_depth, out_depth=info.core.out_depth)
        tiles = []
        if spec.kind == "wg":
            # every pass loads its operands: tiles run on different cores, in another order
            prog = compile_op(op, tensors, balance=False, reuse=False, **kw, **params)
            x_name, dy_name = ("dy", "x") if spec.transposed else ("x", "dy")
            cur = []
            for p in prog.passes:
                rel_conv = p.desc["op"] == Op.CONV_WG
                name = x_name if rel_conv else dy_name
                _, C, H, W = tensors[name].shape
                cur.append(p)
                if not p.desc["drain"]:
                    continue
                # a tile: one pass per sample over one chunk of element channels, whose
                # first channel is where the lanes' places start
                index = next(pl for pl in p.places if pl is not None)[0]
                q0 = (index[1] if rel_conv else index[0]).start
                Cs = stored.get(name, C)
                nbytes, load = self._load(name, C, H, W, q0, p.desc["cin"], Cs)
                steps = [(addrs[name] + (n * Cs + q0) * H * W * 2, nbytes, pp, load)
                         for n, pp in enumerate(cur)]
                stores, positions = self._stores(p, out, prog.result_shape, padded=True)
                tiles.append(Tile(steps, stores, positions))
                cur = []
            return tiles
        key = "x" if "x" in tensors else "dy"
        _, C, H, W = tensors[key].shape
        Cs = stored.get(key, C)
        cur = []
        for n, q0, c0, p in sample_passes(op, tensors, params, key, **kw):
            nbytes, load = self._load(key, C, H, W, q0, p.desc["cin"], Cs)
            cur.append((addrs[key] + (n * Cs + q0) * H * W * 2, nbytes, p, load))
            if p.desc["drain"]:
                stores, positions = self._stores(p, out, out_shape, n0=n, c0=c0)
                tiles.append(Tile(cur, stores, positions))
                cur = []
        return tiles

    def _runs(self, op, tensors, params, addrs, out, out_shape, stored):
        """FP/EP, multicast: the layer as *runs*, one per group of ``lanes`` output channels:
        that group's tiles of every sample in turn, compiled as one core's program, so the
        weights load once and stay in the core's banks for every sample (two banks: a
        group whose inputs take two chunks keeps both). A run goes to one core."""
        info, lanes = self.info, self.info.core.lanes
        key = "x" if "x" in tensors else "dy"
        _, C, H, W = tensors[key].shape
        Cs = stored.get(key, C)
        prog = compile_op(op, tensors, lanes=lanes, weight_depth=info.core.weight_depth,
                          out_depth=info.core.out_depth, balance=False, pack_samples=False,
                          reuse=True, **params)
        runs, run, cur, n, q0, c0 = [], [], [], 0, 0, 0
        for p in prog.passes:
            if p.desc["slots"] != 0:
                raise ValueError(f"{op}: a pass carries one sample on the accelerator, "
                                 f"got slots {p.desc['slots']}")
            nbytes, load = self._load(key, C, H, W, q0, p.desc["cin"], Cs)
            cur.append((addrs[key] + (n * Cs + q0) * H * W * 2, nbytes, p, load))
            q0 += p.desc["cin"]
            if not p.desc["drain"]:
                continue
            stores, positions = self._stores(p, out, out_shape, c0=c0, sample=n)
            run.append(Tile(cur, stores, positions))
            cur, q0, n = [], 0, n + 1
            if n == tensors[key].shape[0]:              # every sample of this group: next group
                runs.append(run)
                run, n, c0 = [], 0, c0 + lanes
        return runs

    def layer(self, op, tensors, params, *, addrs, out, out_shape, group, mode="multicast",
              out_channels=None, in_channels=None):
        """Append ``op`` on ``tensors`` (named as the golden model's ops: ``x``, ``dy``,
        ``w``) with its ``params``: the tensors it streams are read at ``addrs`` (name to
        byte address, NCHW int16), its result of ``out_shape`` is written at ``out``. It
        runs on the cores of ``group`` (a list of core indices): tiles whose inputs are the
        same read them once for the cores that share them (``multicast``), or each core
        reads its own (``unicast``). ``out_channels``: FP/EP: the channels of the stored
        result when above ``out_shape``'s (padding channels, written with the idle lanes'
        words, so a tile of 1×1 maps is whole bus words). ``in_channels``: name to the
        channels a streamed tensor is stored with, when padded (1×1 maps are read in whole
        bus words). A weight gradient whose lanes' maps are not whole bus words (a 3×3
        kernel's 9 elements on 4-element words) is stored in padded blocks: every
        ``positions`` elements of the result take :func:`padded_block` elements, zeros
        after them; :attr:`blocks` is then ``(positions, block)``, else None, and the call
        returns it (reserve :func:`result_elements`, read back with :func:`unpad`)."""
        info = self.info
        if out_channels is not None:
            out_shape = (out_shape[0], max(out_channels, out_shape[1]), *out_shape[2:])
        if mode not in ("multicast", "unicast"):
            raise ValueError(f"mode must be 'multicast' or 'unicast', got {mode!r}")
        if not group or len(set(group)) != len(group) or not all(0 <= c < info.cores for c in group):
            raise ValueError(f"group must be distinct core indices below {info.cores}, got {group!r}")
        stored = dict(in_channels or {})
        self.cores_used |= set(group)
        G = len(group)
        if mode == "multicast" and op_spec(op).kind != "wg":
            # a run per channel group, its weights kept for every sample: runs have the same
            # inputs, so G of them run side by side, each input read once for all G
            units = self._runs(op, tensors, params, addrs, out, out_shape, stored)
            rounds = [units[r:r + G] for r in range(0, len(units), G)]
        else:
            tiles = self._tiles(op, tensors, params, addrs, out, out_shape, stored)
            if mode == "multicast":      # WG: tiles with the same inputs side by side
                by_key = {}
                for t in tiles:
                    by_key.setdefault(t.key, []).append(t)
                rounds = [[[t] for t in same[r:r + G]] for same in by_key.values()
                          for r in range(0, len(same), G)]
            else:                        # each core its own tiles, one after the other
                rounds = [[[t] for t in tiles[r:r + G]] for r in range(0, len(tiles), G)]
        # a pass the cores would refuse never drains: refuse the layer before it runs
        check_program([s[2] for work in rounds for unit in work for t in unit for s in t.steps],
                      info.core, bias=params.get("bias"))
        words, lanes = info.bus_bytes // 2, info.core.lanes
        wg = op_spec(op).kind == "wg"
        sizes = {t.positions for work in rounds for unit in work for t in unit}
        bad = {n for n in sizes if n > info.max_positions
               or (lanes % words if n == 1 else (n % words and not wg))}
        if bad:
            raise ValueError(f"{op}: a tile of {min(bad)} outputs per lane does not fit the store "
                             f"adapters (at most {info.max_positions}, 1 or a multiple of "
                             f"{words}; only a weight gradient's maps are stored padded)")
        padded = {n for n in sizes if padded_block(n, words) != n}
        if padded and len(sizes) > 1:
            raise ValueError(f"{op}: tiles of {sorted(sizes)} outputs per lane: a padded result "
                             f"needs one block size")
        #: ``(positions, block)`` when this layer's result is stored in padded blocks, else None
        self.blocks = (sizes.pop(), padded_block(min(padded), words)) if padded else None
        self._reg("engine_mode", ld_mode="bypass", st_mode="off", st_discard=0, ld_relu=1)
        for work in rounds:                 # a unit (tiles run back to back) per core
            cores = group[:len(work)]
            for core, unit in zip(cores, work):
                positions = unit[0].positions
                if self._positions.get(core) != positions:
                    if core in self._positions:   # its earlier tiles are out first
                        self.wait_idle([core])
                    self._reg(f"cluster_positions_{core}", positions)
                    self._positions[core] = positions
            flat = [[(t, s) for t in unit for s in t.steps] for unit in work]
            for j in range(max(map(len, flat))):
                self._step([(core, *seq[j]) for core, seq in zip(cores, flat) if j < len(seq)],
                           mode, last=j)
        return self.blocks

    def _step(self, step, mode, last):
        """One pass on each core of ``step`` (``(core, tile, (addr, nbytes, pass, channels))``)."""
        mask = sum(1 << core for core, *_ in step)
        beats = [pass_beats(self.info.core, s[2]) for _, _, s in step]
        if all(b == beats[0] for b in beats):
            self._core(mask, beats[0])          # the same beats: multicast them
        else:
            for (core, *_), b in zip(step, beats):
                self._core(1 << core, b)
        loads = {}                              # (addr, nbytes) -> (mask, pass, channels)
        for core, _, (addr, nbytes, p, load) in step:
            k = (addr, nbytes) if mode == "multicast" else (addr, nbytes, core)
            m, *_ = loads.get(k, (0,))
            loads[k] = (m | 1 << core, p, load)
        for k, (m, p, load) in loads.items():
            self.program.append(instr("GEOM", mask=m, cin=load, in_h=p.desc["in_h"],
                                      in_w=p.desc["in_w"]))
            self.program.append(instr("LOAD", tag=0, mask=m, length=k[1], addr=k[0]))
        for core, t, (_, _, p, _) in step:
            if p.desc["drain"]:
                for addr, nbytes in t.stores:
                    self.program.append(instr("STORE", core=core, length=nbytes, addr=addr))
                self.stores += len(t.stores)

    # --- waits and events between groups ------------------------------------------------
    def wait_idle(self, cores, *, writes=False):
        """Its thread waits (the others run) until every core of ``cores`` is done (its tiles
        passed to the store path) and, with ``writes``, every write of the engine's DMA is
        done in memory: what a group waits for before another reads its results."""
        mask = sum(1 << c for c in cores) | ((1 << IDLE_WRITES) if writes else 0)
        self.program.append(instr("WAIT", mask=mask))

    def _event(self, event):
        free = self.info.events - (self.info.threads - 1)
        if not 0 <= event < free:
            raise ValueError(f"event must be 0..{free - 1} (the processor's {self.info.events} "
                             f"counters, {self.info.threads - 1} joining threads), got {event!r}")
        return self.info.threads - 1 + event

    def signal(self, event):
        """Raise ``event`` (a free event counter, 0 up) by one."""
        self.program.append(instr("SIGNAL", event=self._event(event)))

    def wait_event(self, event, count):
        """Its thread waits (the others run) until ``event`` has been raised ``count`` times
        since the program started."""
        self.program.append(instr("WAITEV", event=self._event(event), count=count))

    def parallel(self, *branches):
        """Run ``branches`` at the same time, each in a thread of its own: a branch is a
        callable that takes a :class:`LayerPlan` and appends layers to it (on a group of
        cores no other branch uses). The first runs in this program's thread; the program
        goes on once every branch has issued all its instructions (their stores are waited
        for by :meth:`finish`, or by a later layer on the same cores)."""
        if not 1 <= len(branches) <= self.info.threads:
            raise ValueError(f"parallel: 1 to {self.info.threads} branches (the command "
                             f"processor's threads), got {len(branches)}")
        subs = []
        for branch in branches:
            sub = LayerPlan(self.info, self.blobs, self.scratch, self.base)
            sub._positions = self._positions            # the store adapters' tile sizes
            branch(sub)
            if sub._threads:
                raise ValueError("parallel: a branch cannot run branches of its own")
            for other in subs:
                if sub.cores_used & other.cores_used:
                    raise ValueError(f"parallel: branches share cores "
                                     f"{sorted(sub.cores_used & other.cores_used)}")
            subs.append(sub)
        for t, sub in enumerate(subs[1:], 1):
            # the FORK is written by finish(), once the thread's address is known; event
            # t - 1 joins thread t
            self._threads.append((len(self.program), t, sub.program + [
                instr("SIGNAL", event=t - 1), instr("END")]))
            self.program.append(None)
        self.program += subs[0].program
        for t in range(1, len(subs)):
            self._signals[t] = self._signals.get(t, 0) + 1
            self.program.append(instr("WAITEV", event=t - 1, count=self._signals[t]))
        for sub in subs:
            self.stores += sub.stores
            self.scratch_bytes += sub.scratch_bytes
            self.cores_used |= sub.cores_used

    def finish(self, snapshot=None):
        """Wait for every tile stored and the engine's DMA idle, write the counters to
        ``snapshot`` (a byte address) if given, then END. The threads of :meth:`parallel`
        follow the END."""
        self._wait_stores()
        status = self.info.regmap["engine_status"]
        busy = reg_encode(status, rd_busy=1, wr_busy=1)
        self.program.append(instr("POLL", reg=status.addr, cond=Cond.EQ, mask=busy, value=0))
        if snapshot is not None:
            self.program.append(instr("SNAPSHOT", addr=snapshot))
        self.program.append(instr("END"))
        for at, t, body in self._threads:
            self.program[at] = instr("FORK", thread=t, addr=self.base + INSTR_BYTES * len(self.program))
            self.program += body
        self._threads = []
        return self.program
