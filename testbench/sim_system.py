"""The whole accelerator with its external memory inside the simulation, for long runs.

With cocotbext-axi's ``AxiRam`` as the memory, every AXI beat of a program is a
Python call, and a simulation runs at about a thousand cycles a second: a
training step of a DCGAN takes a quarter of an hour. :class:`SimSystem` puts the
memory into the design instead:

* the :class:`~ganforge.rtl.top.system.System`;
* an :class:`~ganforge.rtl.bus.axi_ram.AxiRam` on its ``axi`` port, whose
  bandwidth (``mem_rate_num / mem_rate_den`` beats a cycle) and latency
  (``mem_latency``) are ports the bench sets, without a rebuild;
* the words in a plain Verilog array (:data:`SIM_RAM_VERILOG`,
  ``ganforge_sim_ram``): megabytes that Amaranth would write out as one
  initialiser per word; it starts at zero;
* a backdoor on the array for the host (``bd_*``: a line of :data:`BACKDOOR_WORDS`
  words a cycle, written with byte enables, or read the cycle after its address),
  used between programs;
* ``cycles``: the clock edges since reset, so the bench times a program without
  a Python call each cycle;
* no reset input: the design holds itself in reset for its first
  :data:`RESET_CYCLES` edges. Verilator re-evaluates all logic that depends on an
  input whenever any input changes, the clock included, and a reset input reaches
  nearly every register.

The registers stay on ``csr``, driven by cocotbext-axi's ``AxiLiteMaster``.
:data:`SIM_RAM_VERILOG` is the word array's module, to add to the design's Verilog
(:func:`ganforge.testbench.run_train_steps` and ``run_system_layers`` do).
"""

from amaranth.hdl import ClockDomain, ClockSignal, Instance, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out, connect

from ganforge.rtl.bus.axi import AxiLiteSignature
from ganforge.rtl.bus.axi_ram import AxiRam
from ganforge.rtl.top.system import System

__all__ = ["SimSystem", "SIM_RAM_VERILOG", "RESET_CYCLES",
           "BACKDOOR_WORDS"]

#: Clock edges the design holds itself in reset after time 0 (it has no reset input).
RESET_CYCLES = 4
#: Words the backdoor moves a cycle.
BACKDOOR_WORDS = 8
_BD_LOG2 = BACKDOOR_WORDS.bit_length() - 1

#: The words of the simulated memory: ``2**WORDS_LOG2`` words of ``WIDTH`` bits, zero at
#: the start; port ``a`` for the AXI memory, port ``bd`` for the host's backdoor, which
#: moves ``2**BD_LOG2`` words (a *line*) a cycle.
SIM_RAM_VERILOG = """\
module ganforge_sim_ram #(parameter WORDS_LOG2 = 16, parameter WIDTH = 128, parameter BD_LOG2 = 3) (
  input clk,
  input [WORDS_LOG2-1:0] a_addr, input a_re, input a_we,
  input [WIDTH-1:0] a_wdata, input [WIDTH/8-1:0] a_wstrb, output reg [WIDTH-1:0] a_rdata,
  input [WORDS_LOG2-BD_LOG2-1:0] bd_addr, input bd_we,
  input [(WIDTH<<BD_LOG2)-1:0] bd_wdata, input [(WIDTH<<BD_LOG2)/8-1:0] bd_wstrb,
  output reg [(WIDTH<<BD_LOG2)-1:0] bd_rdata
);
  reg [WIDTH-1:0] mem [0:(1 << WORDS_LOG2) - 1];
  integer i, j;
  initial begin
    for (i = 0; i < (1 << WORDS_LOG2); i = i + 1) mem[i] = {WIDTH{1'b0}};
    a_rdata = {WIDTH{1'b0}};
    bd_rdata = {(WIDTH<<BD_LOG2){1'b0}};
  end
  always @(posedge clk) begin
    if (a_re) a_rdata <= mem[a_addr];
    for (i = 0; i < WIDTH / 8; i = i + 1)
      if (a_we && a_wstrb[i]) mem[a_addr][8 * i +: 8] <= a_wdata[8 * i +: 8];
    for (j = 0; j < (1 << BD_LOG2); j = j + 1) begin
      for (i = 0; i < WIDTH / 8; i = i + 1)
        if (bd_we && bd_wstrb[j * WIDTH / 8 + i])
          mem[{bd_addr, j[BD_LOG2-1:0]}][8 * i +: 8] <= bd_wdata[j * WIDTH + 8 * i +: 8];
      bd_rdata[j * WIDTH +: WIDTH] <= mem[{bd_addr, j[BD_LOG2-1:0]}];
    end
  end
endmodule
"""


class SimSystem(wiring.Component):
    """A :class:`System` of ``System(**system)`` with ``mem_size`` bytes of memory inside
    (see the module).

    Members
    -------
    clk : :py:`In(1)`
        The clock (there is no reset input).
    csr : :py:`In(AxiLiteSignature(14, 32))`
        The System's registers.
    irq : :py:`Out(1)`
    cycles : :py:`Out(64)`
        Clock edges since reset.
    mem_rate_num, mem_rate_den, mem_latency : :py:`In(8)`
        The memory's bandwidth and latency (:class:`AxiRam`).
    mem_reads, mem_writes : :py:`Out(32)`
        Beats the memory read and wrote.
    bd_addr, bd_we, bd_wdata, bd_wstrb, bd_rdata
        The host's backdoor on the words: line ``bd_addr`` (:data:`BACKDOOR_WORDS` words).
    """

    def __init__(self, system, *, mem_size, max_latency=64):
        self.system = System(**system)
        s = self.system
        self.ram = AxiRam(size=mem_size, addr_width=s.addr_width, data_width=s.data_width,
                          max_latency=max_latency)
        words = self.ram.word_bits
        super().__init__({
            "clk": In(1),
            "csr": In(AxiLiteSignature(len(s.csr.awaddr), 32)),
            "irq": Out(1), "cycles": Out(64),
            "mem_rate_num": In(8), "mem_rate_den": In(8), "mem_latency": In(8),
            "mem_reads": Out(32), "mem_writes": Out(32),
            "bd_addr": In(words - _BD_LOG2), "bd_we": In(1),
            "bd_wdata": In(s.data_width * BACKDOOR_WORDS),
            "bd_wstrb": In(s.data_width * BACKDOOR_WORDS // 8),
            "bd_rdata": Out(s.data_width * BACKDOOR_WORDS),
        })

    def elaborate(self, platform):
        m = Module()
        # The reset comes from inside: held for the first RESET_CYCLES edges. A reset input
        # would feed nearly every register's next-state logic, which Verilator then
        # evaluates again on every change of any input (its clock's included).
        m.domains.sync = sync = ClockDomain("sync")
        m.domains.por = por = ClockDomain("por", reset_less=True)
        count = Signal(range(RESET_CYCLES + 1))
        m.d.comb += [sync.clk.eq(self.clk), por.clk.eq(self.clk),
                     sync.rst.eq(count != RESET_CYCLES)]
        with m.If(count != RESET_CYCLES):
            m.d.por += count.eq(count + 1)
        m.submodules.system = s = self.system
        m.submodules.ram = ram = self.ram
        connect(m, wiring.flipped(self.csr), s.csr)
        connect(m, s.axi, ram.axi)
        st = ram.storage
        m.submodules.words = Instance(
            "ganforge_sim_ram", p_WORDS_LOG2=ram.word_bits, p_WIDTH=s.data_width,
            p_BD_LOG2=_BD_LOG2,
            i_clk=ClockSignal("sync"),
            i_a_addr=st.addr, i_a_re=st.re, i_a_we=st.we, i_a_wdata=st.wdata, i_a_wstrb=st.wstrb,
            o_a_rdata=st.rdata,
            i_bd_addr=self.bd_addr, i_bd_we=self.bd_we, i_bd_wdata=self.bd_wdata,
            i_bd_wstrb=self.bd_wstrb, o_bd_rdata=self.bd_rdata)
        m.d.comb += [
            self.irq.eq(s.irq),
            ram.rate_num.eq(self.mem_rate_num), ram.rate_den.eq(self.mem_rate_den),
            ram.latency.eq(self.mem_latency),
            self.mem_reads.eq(ram.reads), self.mem_writes.eq(ram.writes),
        ]
        m.d.sync += self.cycles.eq(self.cycles + 1)
        return m
