"""ROLIN parameter unit: per-map scale/shift (FP) or backward coefficients (EP).

Takes one statistics record per (sample, channel) map from :class:`RolinStats`
and writes one table entry, exactly as :func:`golden.instnorm.in_params` and
:func:`golden.instnorm.in_backward_params` compute it, bit for bit.

FP (``mode`` 1), from ``S1``, ``S2``, ``M`` (``count``), ``eps_q``, ``γ``, ``β``:

1. ``D = eps_q·M² + M·S2 − S1²`` (exact);
2. ``k = ceil((bitlen(D) − 32)/2)``, ``m = D·2**-2k``, and ``rs`` is found bit by
   bit, from bit 16 down: the largest ``rs`` with ``rs²·m ≤ 2**62``. That is
   ``isqrt(2**62 // m)`` of :func:`rsqrt_fixed` exactly (``isqrt(floor(y)) =
   floor(sqrt(y))``), with no divider;
3. ``a = sr(γ·M·rs, sh_a + k)``, ``b = β·2**b_lshift − sr(γ·S1·rs, sh_a + k)``,
   with ``sh_a = RSQRT_Q + frac_gamma − frac_y − scale_frac`` and
   ``b_lshift = frac_y + scale_frac − frac_gamma`` (registers set by the host).

It writes ``{a, b, rs, k, s1}`` to the forward table at ``idx``.

EP (``mode`` 2), from ``T1``, ``T2`` and the map's ``rs``, ``k``:
``c1 = sr(γ·rs·M, sh_c + k)``, ``c2 = −sr(γ·rs·T2, sh_c + k + c2_extra)``,
``c3 = −sr(γ·rs·T1, sh_c + k)`` with ``sh_c = RSQRT_Q + frac_gamma − frac_x −
coef_frac − frac_dx + frac_dy`` and ``c2_extra = 2·frac_xhat``; written to the
backward table at ``idx``.

``sr`` is the golden round-half-up shift (left when negative). ``a``, ``c1``,
``c2`` must fit 32 bits and ``b``, ``c3`` 48: one that does not pulses
``overflow`` (bit 0 coefficient, bit 1 offset) and is written truncated; the
host reads the sticky error in the CSRs (the golden model raises
``OverflowError``). ``D ≤ 0`` (only possible with ``eps_q = 0``) or a left
shift beyond 32 bits pulses bit 2.

One multiplier (52 × 36 bits) and one shifter are shared by all steps. See
:class:`RolinParams` for its parameters, ports and latency.
"""

from types import SimpleNamespace

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ganforge.golden.instnorm import IN_COEF_WIDTH, IN_OFFSET_WIDTH, RSQRT_BITS, RSQRT_Q, \
    RSQRT_NORM_BITS
from .arith import (GB_LAYOUT, K_BITS, MAX_LEFT_SHIFT, SHIFT_BITS, ep_entry_layout, fits,
                          fp_entry_layout, shift_round_signed)
from ..refuse import Params
from .stats import check_unit_params, stats_layout

__all__ = ["RolinParams", "ERR_COEF", "ERR_OFFSET", "ERR_DOMAIN"]

ERR_COEF, ERR_OFFSET, ERR_DOMAIN = 1, 2, 4
A_BITS, B_BITS = 52, 36
P_BITS = A_BITS + B_BITS


class RolinParams(wiring.Component):
    """One table entry per statistics record: the FP scale and shift ``{a, b, rs, k, s1}`` or
    the EP coefficients ``{c1, c2, c3}``, bit for bit as the golden model.

    Parameters
    ----------
    data_width : int
        Element width, 8 or 16 (as :class:`~.stats.RolinStats`).
    count_bits : int
        Maps hold at most ``2**count_bits`` elements; 1..16 (the multiplier's width).
    table_depth : int
        Entries of the parameter tables, 1..65536.
    chan_bits : int
        Bits of a channel number (the γ/β table's address), 1..16.

    Members
    -------
    stats : :py:`In(stream.Signature(stats_layout(data_width, count_bits, table_bits, chan_bits)))`
        One record per map, from :class:`~.stats.RolinStats`.
    mode : :py:`In(2)`
        1 FP, 2 EP.
    count : :py:`In(count_bits + 1)`
        ``M``, the elements per map.
    eps_q : :py:`In(32)`
        ``ε`` in the statistics' units.
    sh_a, sh_c : :py:`In(signed(SHIFT_BITS))`
        The shifts of ``a``/``b`` (FP) and ``c1``..``c3`` (EP), before ``k``.
    b_lshift, c2_extra : :py:`In(6)`
        ``β``'s left shift in ``b``; ``c2``'s extra shift.
    gb_rd_addr, gb_rd_data : :py:`Out(chan_bits)`, :py:`In(GB_LAYOUT)`
        Read port of the γ/β table (one cycle of latency).
    fp_wr_addr, fp_wr_data, fp_wr_en : :py:`Out`
        Write port of the forward table (``fp_entry_layout``).
    ep_wr_addr, ep_wr_data, ep_wr_en : :py:`Out`
        Write port of the backward table (``ep_entry_layout``).
    busy : :py:`Out(1)`
        A record is being processed.
    overflow : :py:`Out(3)`
        Pulses: :data:`ERR_COEF`, :data:`ERR_OFFSET`, :data:`ERR_DOMAIN`.
    maps : :py:`Out(32)`
        Entries written since ``start``.
    start : :py:`In(1)`
        A pulse: clears ``maps``.

    Latency and throughput
    ----------------------
    One record at a time: 45 cycles per map in FP (accept, γ/β read, 5 for ``D`` and its
    normalisation, 2·17 for ``rs``, 4 for ``a`` and ``b``), 6 in EP. ``stats.ready`` is
    high only while idle.

    Bad input
    ---------
    A coefficient that does not fit 32 bits (``a``, ``c1``, ``c2``) pulses ``ERR_COEF``, an
    offset that does not fit 48 (``b``, ``c3``) ``ERR_OFFSET``; the entry is written
    truncated. ``D ≤ 0`` (only possible with ``eps_q = 0``) or a left shift beyond
    ``MAX_LEFT_SHIFT`` pulses ``ERR_DOMAIN``. ``mode`` 0 or 3 computes as FP.

    Raises
    ------
    ValueError
        At construction, naming the parameter (:func:`~.stats.check_unit_params`):
        ``data_width`` not 8 or 16, ``count_bits`` outside 1..16 (the multiplier's width),
        ``table_depth`` outside 1..65536, ``chan_bits`` outside 1..16.
    """

    def __init__(self, *, data_width=16, count_bits=16, table_depth=1024, chan_bits=10):
        check_unit_params(Params(self, "RolinParams"), data_width=data_width,
                          count_bits=count_bits, table_depth=table_depth, chan_bits=chan_bits)
        self.data_width, self.count_bits = data_width, count_bits
        self.table_bits = max(1, (table_depth - 1).bit_length())
        self.chan_bits = chan_bits
        fp_layout = fp_entry_layout(data_width, count_bits)
        super().__init__({
            "stats": In(stream.Signature(stats_layout(data_width, count_bits, self.table_bits,
                                                      chan_bits))),
            "mode": In(2),
            "count": In(count_bits + 1),
            "eps_q": In(32),
            "sh_a": In(signed(SHIFT_BITS)),
            "b_lshift": In(6),
            "sh_c": In(signed(SHIFT_BITS)),
            "c2_extra": In(6),
            "gb_rd_addr": Out(chan_bits),
            "gb_rd_data": In(GB_LAYOUT),
            "fp_wr_addr": Out(self.table_bits), "fp_wr_data": Out(fp_layout), "fp_wr_en": Out(1),
            "ep_wr_addr": Out(self.table_bits), "ep_wr_data": Out(ep_entry_layout()),
            "ep_wr_en": Out(1),
            "busy": Out(1),
            "overflow": Out(3),
            "maps": Out(32),
            "start": In(1),
        })

    @staticmethod
    def _coef_state(m, s, name, a, b, coef, nxt):
        """State ``name``: ``coef`` takes ``a · b`` shifted right by ``s.sh_k`` (rounded), an
        overflow of the coefficient width or a bad shift sets the error; ``nxt`` follows."""
        with m.State(name):
            m.d.comb += [s.mul_a.eq(a), s.mul_b.eq(b), s.sr_sh.eq(s.sh_k)]
            m.d.sync += coef.eq(s.sr_out)
            with m.If(~fits(s.sr_out, IN_COEF_WIDTH)):
                m.d.sync += s.overflow.eq(ERR_COEF)
            with m.If(s.bad_shift):
                m.d.sync += s.overflow.eq(ERR_DOMAIN)
            m.next = nxt

    @staticmethod
    def _product_state(m, s, name, a, b, store, nxt):
        """State ``name``: the shared multiplier forms ``a · b`` (``s.prod``), the state keeps
        ``store(s.prod)`` (a statement), and ``nxt`` follows."""
        with m.State(name):
            m.d.comb += [s.mul_a.eq(a), s.mul_b.eq(b)]
            m.d.sync += store(s.prod)
            m.next = nxt

    def elaborate(self, platform):
        m = Module()
        s = SimpleNamespace()
        self._datapath(m, s)
        st = s.st
        with m.FSM(name="param_fsm") as fsm:
            with m.State("IDLE"):
                m.d.comb += self.stats.ready.eq(1)
                with m.If(self.stats.valid):
                    m.d.sync += st.eq(self.stats.payload)
                    m.next = "GB"
            with m.State("GB"):                     # γ/β read latency
                with m.If(self.mode == 2):
                    m.next = "GR"
                with m.Else():
                    m.next = "MM"
            self._fp_states(m, s)
            self._ep_states(m, s)
        m.d.comb += self.busy.eq(~fsm.ongoing("IDLE"))
        with m.If(self.start):
            m.d.sync += s.maps.eq(0)
        return m

    # The parts below build one module in order, sharing the namespace ``s``: the datapath
    # adds the registers and the shared multiplier and shifter, the state groups drive them.

    def _datapath(self, m, s):
        """The record register ``st``, the shared multiplier (``mul_a·mul_b = prod``) and
        rounding shifter (``sr(prod, sr_sh) = sr_out``), the working registers, and the
        combinational normalisation of ``D`` (``knew``, ``mshift``) and the trial ``rs``
        bit (``t``)."""
        s.st = st = Signal.like(self.stats.payload)
        s.mul_a = mul_a = Signal(signed(A_BITS))
        s.mul_b = mul_b = Signal(signed(B_BITS))
        s.prod = prod = Signal(signed(P_BITS))
        m.d.comb += prod.eq(mul_a * mul_b)
        s.sr_sh = sr_sh = Signal(signed(SHIFT_BITS + 1))
        s.sr_out = sr_out = Signal(signed(P_BITS + MAX_LEFT_SHIFT + 1))
        m.d.comb += sr_out.eq(shift_round_signed(prod, sr_sh, len(sr_out)))
        s.bad_shift = sr_sh < -MAX_LEFT_SHIFT

        s.tmp = Signal(signed(P_BITS))           # mm, γ·M, γ·S1, γ·rs
        s.d = d = Signal(signed(P_BITS + 2))     # D
        s.k = Signal(signed(K_BITS))
        s.mnorm = Signal(unsigned(RSQRT_NORM_BITS))
        s.rs = rs = Signal(unsigned(RSQRT_BITS + 1))
        s.bit = bit = Signal(range(RSQRT_BITS + 1))
        s.tt = Signal(unsigned(2 * RSQRT_BITS + 2))
        s.a = Signal(signed(IN_COEF_WIDTH))
        s.c1 = Signal(signed(IN_COEF_WIDTH))
        s.c2 = Signal(signed(IN_COEF_WIDTH))
        s.maps = maps = Signal(32)
        s.overflow = overflow = Signal(3)
        m.d.comb += [self.gb_rd_addr.eq(st.chan), self.maps.eq(maps), self.overflow.eq(overflow)]
        m.d.sync += overflow.eq(0)
        s.sh_k = sh_k = Signal(signed(SHIFT_BITS + 1))
        m.d.comb += sh_k.eq(Mux(self.mode == 2, self.sh_c, self.sh_a) + st.k)

        # bitlen(D) and the normalised mantissa.
        bitlen = Signal(range(len(d) + 1))
        for i in range(len(d) - 1):
            with m.If(d[i]):
                m.d.comb += bitlen.eq(i + 1)
        s.knew = knew = Signal(signed(K_BITS))
        diff = Signal(signed(K_BITS + 1))
        m.d.comb += [diff.eq(RSQRT_NORM_BITS - bitlen), knew.eq(-(diff >> 1))]
        two_k = Signal(signed(K_BITS + 1))
        m.d.comb += two_k.eq(knew * 2)
        s.mshift = mshift = Signal(unsigned(RSQRT_NORM_BITS))
        m.d.comb += mshift.eq(Mux(two_k >= 0, d.as_unsigned() >> two_k.as_unsigned(),
                                  d.as_unsigned() << (-two_k).as_unsigned()[:6]))
        s.t = t = Signal(unsigned(RSQRT_BITS + 1))
        m.d.comb += t.eq(rs | (1 << bit))

    def _fp_states(self, m, s):
        """FP: ``D``, its normalisation, ``rs`` bit by bit, then ``a`` and ``b``; writes the
        forward table entry."""
        st, mul_a, mul_b, prod, sr_sh, sr_out = s.st, s.mul_a, s.mul_b, s.prod, s.sr_sh, s.sr_out
        tmp, d, k, rs, bit, t, a, overflow = s.tmp, s.d, s.k, s.rs, s.bit, s.t, s.a, s.overflow
        gamma, beta, count = self.gb_rd_data.gamma, self.gb_rd_data.beta, self.count
        self._product_state(m, s, "MM", count, count, tmp.eq, "EPS")
        self._product_state(m, s, "EPS", self.eps_q, tmp, d.eq, "S2")
        self._product_state(m, s, "S2", st.s2, count, lambda p: d.eq(d + p), "S1")
        self._product_state(m, s, "S1", st.s1, st.s1, lambda p: d.eq(d - p), "NORM")
        with m.State("NORM"):
            with m.If(d <= 0):
                m.d.sync += overflow.eq(ERR_DOMAIN)
            m.d.sync += [k.eq(s.knew), s.mnorm.eq(s.mshift), rs.eq(0), bit.eq(RSQRT_BITS)]
            m.next = "RS_T"
        self._product_state(m, s, "RS_T", t, t, s.tt.eq, "RS_M")
        with m.State("RS_M"):
            m.d.comb += [mul_a.eq(s.tt), mul_b.eq(s.mnorm)]
            with m.If(prod <= (1 << (2 * RSQRT_Q))):
                m.d.sync += rs.eq(t)
            m.d.sync += bit.eq(bit - 1)
            with m.If(bit == 0):
                m.d.sync += st.k.eq(k)
                m.next = "GM"
            with m.Else():
                m.next = "RS_T"
        self._product_state(m, s, "GM", gamma, count, tmp.eq, "A")
        self._coef_state(m, s, "A", tmp, rs, a, "GS")
        self._product_state(m, s, "GS", st.s1, gamma, tmp.eq, "B")
        with m.State("B"):
            m.d.comb += [mul_a.eq(tmp), mul_b.eq(rs), sr_sh.eq(s.sh_k)]
            off = Signal(signed(len(sr_out) + 2))
            m.d.comb += off.eq((beta.as_signed() << self.b_lshift) - sr_out)
            m.d.comb += [
                self.fp_wr_en.eq(1), self.fp_wr_addr.eq(st.idx),
                self.fp_wr_data.a.eq(a), self.fp_wr_data.b.eq(off),
                self.fp_wr_data.rs.eq(rs), self.fp_wr_data.k.eq(k), self.fp_wr_data.s1.eq(st.s1),
            ]
            with m.If(~fits(off, IN_OFFSET_WIDTH)):
                m.d.sync += overflow.eq(ERR_OFFSET)
            m.d.sync += s.maps.eq(s.maps + 1)
            m.next = "IDLE"

    def _ep_states(self, m, s):
        """EP: ``c1``, ``c2``, ``c3`` from ``γ·rs``; writes the backward table entry."""
        st, mul_a, mul_b, sr_sh, sr_out = s.st, s.mul_a, s.mul_b, s.sr_sh, s.sr_out
        tmp, c1, c2, overflow, sh_k = s.tmp, s.c1, s.c2, s.overflow, s.sh_k
        gamma, count = self.gb_rd_data.gamma, self.count
        self._product_state(m, s, "GR", gamma, st.rs, tmp.eq, "C1")
        self._coef_state(m, s, "C1", tmp, count, c1, "C2")
        with m.State("C2"):
            m.d.comb += [mul_a.eq(st.s2), mul_b.eq(tmp), sr_sh.eq(sh_k + self.c2_extra)]
            m.d.sync += c2.eq(-sr_out)
            with m.If(~fits(-sr_out, IN_COEF_WIDTH)):
                m.d.sync += overflow.eq(ERR_COEF)
            m.next = "C3"
        with m.State("C3"):
            m.d.comb += [mul_a.eq(st.s1), mul_b.eq(tmp), sr_sh.eq(sh_k)]
            c3 = Signal(signed(len(sr_out) + 1))
            m.d.comb += [
                c3.eq(-sr_out),
                self.ep_wr_en.eq(1), self.ep_wr_addr.eq(st.idx),
                self.ep_wr_data.c1.eq(c1), self.ep_wr_data.c2.eq(c2), self.ep_wr_data.c3.eq(c3),
            ]
            with m.If(~fits(c3, IN_OFFSET_WIDTH)):
                m.d.sync += overflow.eq(ERR_OFFSET)
            m.d.sync += s.maps.eq(s.maps + 1)
            m.next = "IDLE"
