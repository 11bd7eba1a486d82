"""An AXI4 memory for the Amaranth simulator, with throttling and injected faults.

:class:`AxiMemory` answers a design's AXI4 manager port
(:class:`~ganforge.rtl.bus.axi.AxiSignature`) from a ``bytearray``: INCR bursts
of reads and writes (with byte strobes), one read burst and one write burst
at a time, in order; R and B carry the ID of their request. It is the Amaranth-simulator counterpart of
cocotbext-axi's ``AxiRam`` in the cocotb benches:

* every ready and valid it drives is dropped at random (``stall``, drawn from
  ``rng`` each cycle), so designs are tested against a slow, irregular memory;
* ``errors`` maps a byte address to a response (``RESP_SLVERR`` or
  ``RESP_DECERR``): a beat that touches it answers that response (a read
  still returns the data, a write still writes, as a real subordinate may);
* ``dead=True`` never accepts an address, and ``mute=True`` accepts addresses and
  write data but never answers (no read beat, no write response): a design that waits
  on it must end the wait by itself;
* ``late`` holds each answer (a read burst's beats, a write response) that many cycles
  after its request: a design's timeout can expire before it comes;
* ``log`` records every burst as ``(kind, addr, beats)``, so a test can count
  what crossed the bus.

Add it with ``sim.add_process(mem.process)``.
"""

from ganforge.rtl.bus.axi import RESP_OKAY

__all__ = ["AxiMemory"]


class AxiMemory:
    """A byte-addressed memory behind an AXI4 subordinate port.

    Parameters
    ----------
    port : interface with :class:`~ganforge.rtl.bus.axi.AxiSignature` members
        The design's manager port.
    size : int
        Bytes of memory; an access beyond answers ``DECERR`` (reads return 0).
    rng : random.Random or None
        Needed when ``stall`` > 0.
    stall : float
        Probability, each cycle, that a ready or valid the memory drives is low.
    errors : dict of int to int
        Byte address -> response of a beat that covers it.
    dead : bool
        Never accept an address.
    mute : bool
        Accept addresses and write data, never answer.
    late : int
        Cycles between a request and its answer (at least).
    wrong_id : bool
        Answer every request with an ID other than its own (``id ^ 1``).
    """

    def __init__(self, port, size, *, rng=None, stall=0.0, errors=None, dead=False, mute=False,
                 late=0, wrong_id=False):
        if stall and rng is None:
            raise ValueError(f"stall={stall} needs an rng")
        self.port, self.mem = port, bytearray(size)
        self.rng, self.stall = rng, stall
        self.errors, self.dead, self.mute, self.late = dict(errors or {}), dead, mute, late
        self.id_xor = int(wrong_id)
        self.bytes = len(port.wdata) // 8
        self.log = []

    def put(self, addr, data):
        self.mem[addr:addr + len(data)] = data

    def get(self, addr, n):
        return bytes(self.mem[addr:addr + n])

    def _go(self):
        return not self.stall or self.rng.random() >= self.stall

    def _resp(self, addr):
        if addr + self.bytes > len(self.mem):
            return 3
        for a in range(addr, addr + self.bytes):
            if a in self.errors:
                return self.errors[a]
        return RESP_OKAY

    async def process(self, ctx):
        p, nb = self.port, self.bytes
        reads, r_beat = [], None       # queued read beats (data, resp, last); the one offered
        w_burst, b_queue, b_on = None, [], False
        now = 0
        while True:
            now += 1
            ar_rdy = int(not self.dead and not reads and r_beat is None and self._go())
            if (r_beat is None and reads and reads[0][4] <= now and not self.mute
                    and self._go()):
                r_beat = reads.pop(0)
            ctx.set(p.arready, ar_rdy)
            ctx.set(p.rvalid, int(r_beat is not None))
            if r_beat is not None:
                ctx.set(p.rdata, r_beat[0])
                ctx.set(p.rresp, r_beat[1])
                ctx.set(p.rlast, r_beat[2])
                ctx.set(p.rid, r_beat[3])
            aw_rdy = int(not self.dead and w_burst is None and self._go())
            w_rdy = int(w_burst is not None and self._go())
            if not b_on and b_queue and b_queue[0][2] <= now and not self.mute and self._go():
                b_on = True
            ctx.set(p.awready, aw_rdy)
            ctx.set(p.wready, w_rdy)
            ctx.set(p.bvalid, int(b_on))
            ctx.set(p.bresp, b_queue[0][0] if b_on else 0)
            ctx.set(p.bid, b_queue[0][1] if b_on else 0)
            (_, _, arvalid, araddr, arlen, arid, rready, awvalid, awaddr, awlen, awid, wvalid,
             wdata, wstrb, bready) = await ctx.tick().sample(
                p.arvalid, p.araddr, p.arlen, p.arid, p.rready, p.awvalid, p.awaddr, p.awlen,
                p.awid, p.wvalid, p.wdata, p.wstrb, p.bready)
            if arvalid and ar_rdy:
                self.log.append(("read", araddr, arlen + 1))
                for k in range(arlen + 1):
                    a = araddr + k * nb
                    word = int.from_bytes(self.mem[a:a + nb], "little") if a + nb <= len(self.mem) else 0
                    reads.append((word, self._resp(a), int(k == arlen), arid ^ self.id_xor,
                                  now + self.late))
            if r_beat is not None and rready:
                r_beat = None
            if awvalid and aw_rdy:
                self.log.append(("write", awaddr, awlen + 1))
                w_burst = [awaddr, awlen + 1, RESP_OKAY, awid ^ self.id_xor]
            if w_burst is not None and wvalid and w_rdy:
                a = w_burst[0]
                resp = self._resp(a)
                if a + nb <= len(self.mem):
                    for i in range(nb):
                        if wstrb >> i & 1:
                            self.mem[a + i] = wdata >> 8 * i & 0xFF
                w_burst[2] = max(w_burst[2], resp)
                w_burst[0] += nb
                w_burst[1] -= 1
                if w_burst[1] == 0:
                    b_queue.append((w_burst[2], w_burst[3], now + self.late))
                    w_burst = None
            if b_on and bready:
                b_queue.pop(0)
                b_on = False
