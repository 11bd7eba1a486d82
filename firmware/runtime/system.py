"""Running layers on the system (:class:`~ganforge.rtl.top.system.System`) over a
:class:`~.bus.Bus`: tensors into memory, a program and its command beats into memory,
GO, the interrupt, the results back.

Memory is laid out from address 0: the program (``program_bytes``), then the core
command beats (``blob_bytes``), then the tensors, each in a 4 KiB-aligned region
(:class:`~.host.Regions`).
"""

import numpy as np

from ganforge.firmware.compiler.cp import assemble
from ganforge.firmware.compiler.layer import Blobs, LayerPlan, result_elements, unpad
from ganforge.golden.ops import op_spec

from .host import Regions
from .processor import ProcessorHost

__all__ = ["SystemHost", "HostTraffic"]


class HostTraffic:
    """What the host moved to and from the accelerator's memory: ``writes`` and ``reads``
    (times), ``bytes_written`` and ``bytes_read`` (tensors), ``beat_bytes`` (core command
    beats: weights, masks, descriptors) and ``program_bytes``."""

    def __init__(self):
        self.writes = self.reads = self.bytes_written = self.bytes_read = 0
        self.beat_bytes = self.program_bytes = self.programs = 0

    def as_dict(self):
        return dict(vars(self))


class SystemHost:
    """The host of a system.

    Parameters
    ----------
    bus : Bus
        With the registers of :func:`~ganforge.rtl.top.system.system_regmap` and the
        memory.
    info : SystemInfo
        The system's parameters (:meth:`SystemInfo.of(system) <ganforge.firmware.compiler.layer.SystemInfo.of>`).
    mem_size : int
        Bytes of memory (the processor's window).
    program_bytes, blob_bytes : int
        Room for the program and for the command beats.
    """

    def __init__(self, bus, info, *, mem_size, program_bytes=1 << 16, blob_bytes=1 << 20):
        self.bus, self.info, self.mem_size = bus, info, mem_size
        self.cp = ProcessorHost(bus, prefix="cp_")
        self.program_base, self.blob_base = 0, program_bytes
        self.mem = Regions(bus, base=program_bytes + blob_bytes)
        self.blob_bytes = blob_bytes
        self.traffic = HostTraffic()
        self._placed = {}           # id(array) -> (array, region name, stored channels)
        self._count = 0

    def plan(self):
        """A new :class:`LayerPlan`, its command beats placed after the program; it
        snapshots the counters at its start."""
        n = self.info.snapshot_bytes
        self.mem.region("snapshot_start", n)
        self.mem.region("snapshot_end", n)
        scratch = self.mem.region("scratch", 2 * self.info.max_positions)
        plan = LayerPlan(self.info, Blobs(self.blob_base, max(16, self.info.bus_bytes)),
                         scratch=scratch, base=self.program_base)
        plan.start(snapshot=self.mem.regions["snapshot_start"])
        return plan

    async def counters(self, name):
        """The counters a SNAPSHOT wrote to region ``name``, by name."""
        raw = await self.bus.get(self.mem.regions[name], 8 * len(self.info.counter_names))
        return {k: int.from_bytes(raw[8 * i:8 * i + 8], "little")
                for i, k in enumerate(self.info.counter_names)}

    async def load(self, plan, *, budget=None):
        """Finish ``plan`` and write it and its command beats to memory; set the processor's
        window and ``budget`` (its no-progress budget in cycles; None: its reset value).
        GO (``self.cp.start(self.program_base)``) then runs it."""
        program = plan.finish(snapshot=self.mem.regions["snapshot_end"])
        raw = assemble(program)
        if len(raw) > self.blob_base:
            raise ValueError(f"the program takes {len(raw)} bytes, above its {self.blob_base}")
        if plan.blobs.end > self.blob_base + self.blob_bytes:
            raise ValueError(f"the command beats take {plan.blobs.end - self.blob_base} bytes, "
                             f"above their {self.blob_bytes}")
        await self.bus.put(self.program_base, raw)
        for addr, data in plan.blobs.items:
            await self.bus.put(addr, data)
        t = self.traffic
        t.programs += 1
        t.program_bytes += len(raw)
        t.beat_bytes += sum(len(d) for _, d in plan.blobs.items)
        await self.cp.setup(window=(0, self.mem_size), budget=budget)

    async def run(self, plan, *, cycles, budget=None):
        """:meth:`load` ``plan``, run it; returns ``(instructions retired, counters)``: the
        change of every counter over the program (:class:`~.processor.ProgramError` if it
        stopped)."""
        await self.load(plan, budget=budget)
        return await self.run_loaded(cycles=cycles)

    async def run_loaded(self, *, cycles):
        """Run the program :meth:`load` wrote (again); returns what :meth:`run` returns."""
        retired = await self.cp.run(self.program_base, cycles=cycles)
        a, b = await self.counters("snapshot_start"), await self.counters("snapshot_end")
        # the cluster's own counters restart at the program's start: their end values
        return retired, {k: b[k] - a[k] if k.startswith("core") else b[k] for k in a}

    # --- a layer op, its tensors placed and its result read back ---------------------------
    def _stored_channels(self, shape):
        """Channels a tensor is stored with: 1×1 maps padded to whole bus words."""
        words = self.info.bus_bytes // 2
        c = shape[1]
        return -(-c // words) * words if shape[2] * shape[3] == 1 else c

    async def place(self, arr):
        """The region name of ``arr`` (NCHW) in memory, written now unless it is there
        already (a result read back earlier, or a tensor placed earlier), and its stored
        channels."""
        hit = self._placed.get(id(arr))
        if hit is not None and hit[0] is arr:
            return hit[1], hit[2]
        cs = self._stored_channels(arr.shape)
        data = np.zeros((arr.shape[0], cs, *arr.shape[2:]), dtype=np.int64)
        data[:, :arr.shape[1]] = arr
        self._count += 1
        name = f"t{self._count}"
        await self.mem.put(name, data)
        self.traffic.writes += 1
        self.traffic.bytes_written += data.size * 2
        self._placed[id(arr)] = (arr, name, cs)
        return name, cs

    async def run_layer(self, op, tensors, params, out_shape, *, group=None, mode="multicast",
                        cycles, budget=None):
        """Run ``op`` (golden names and parameters) as one program on the cores of ``group``
        (default: all); returns ``(result, counters)``: the result read back (int64 of
        ``out_shape``) and the change of every counter, with ``cycles`` from GO to the
        interrupt when the bus counts them."""
        spec = op_spec(op)
        streamed = ("x", "dy") if spec.kind == "wg" else (spec.data,)
        addrs, stored = {}, {}
        for name in streamed:
            region, cs = await self.place(tensors[name])
            addrs[name], stored[name] = self.mem.regions[region], cs
        lanes, words = self.info.core.lanes, self.info.bus_bytes // 2
        positions = int(np.prod(out_shape[2:]))
        out_c = out_shape[1]
        if spec.kind != "wg" and (positions * 2) % self.info.bus_bytes:
            out_c = -(-out_shape[1] // lanes) * lanes      # whole tiles of 1x1 maps
        self._count += 1
        name = f"t{self._count}"
        full = (out_shape[0], out_c, *out_shape[2:])
        size = result_elements(op, full, words)     # WG maps may be stored padded
        self.mem.region(name, size * 2)
        plan = self.plan()
        blocks = plan.layer(op, tensors, params, addrs=addrs, out=self.mem.regions[name],
                            out_shape=tuple(out_shape),
                            group=list(range(self.info.cores)) if group is None else group,
                            mode=mode, out_channels=out_c if out_c != out_shape[1] else None,
                            in_channels=stored)
        _, counters = await self.run(plan, cycles=cycles, budget=budget)
        nread = int(np.prod(full)) if blocks is None else int(np.prod(full)) // blocks[0] * blocks[1]
        got = unpad(await self.mem.get(name, (nread,)), blocks, full)[:, :out_shape[1]]
        result = np.ascontiguousarray(got)
        self.traffic.reads += 1
        self.traffic.bytes_read += nread * 2
        if out_c == self._stored_channels(out_shape) and out_c == out_shape[1]:
            self._placed[id(result)] = (result, name, out_c)      # the next layer reads it there
        return result, counters
