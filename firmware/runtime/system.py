"""Running layers on the system (:class:`~ganforge.rtl.top.system.System`) over a
:class:`~.bus.Bus`: tensors into memory, a program and its command beats into memory,
GO, the interrupt, the results back.

Memory is laid out from address 0: the program (``program_bytes``), then the core
command beats (``blob_bytes``), then the tensors, each in a 4 KiB-aligned region
(:class:`~.host.Regions`).
"""

from ganforge.firmware.compiler.cp import assemble
from ganforge.firmware.compiler.layer import Blobs, LayerPlan

from .host import Regions
from .processor import ProcessorHost

__all__ = ["SystemHost"]


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

    def plan(self):
        """A new :class:`LayerPlan`, its command beats placed after the program; it
        snapshots the counters at its start."""
        n = self.info.snapshot_bytes
        self.mem.region("snapshot_start", n)
        self.mem.region("snapshot_end", n)
        scratch = self.mem.region("scratch", 2 * self.info.max_positions)
        plan = LayerPlan(self.info, Blobs(self.blob_base, max(16, self.info.bus_bytes)),
                         scratch=scratch)
        plan.start(snapshot=self.mem.regions["snapshot_start"])
        return plan

    async def counters(self, name):
        """The counters a SNAPSHOT wrote to region ``name``, by name."""
        raw = await self.bus.get(self.mem.regions[name], 8 * len(self.info.counter_names))
        return {k: int.from_bytes(raw[8 * i:8 * i + 8], "little")
                for i, k in enumerate(self.info.counter_names)}

    async def run(self, plan, *, cycles, budget=None):
        """Finish ``plan``, write it and its command beats to memory, run it; returns
        ``(instructions retired, counters)``: the change of every counter over the program
        (:class:`~.processor.ProgramError` if it stopped). ``budget``: the processor's
        no-progress budget in cycles (None: its reset value)."""
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
        await self.cp.setup(window=(0, self.mem_size), budget=budget)
        retired = await self.cp.run(self.program_base, cycles=cycles)
        a, b = await self.counters("snapshot_start"), await self.counters("snapshot_end")
        # the cluster's own counters restart at the program's start: their end values
        return retired, {k: b[k] - a[k] if k.startswith("core") else b[k] for k in a}
