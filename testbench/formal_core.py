"""Formal properties of the sparse core's stream interfaces (SymbiYosys k-induction, z3).

:class:`CoreFormal` wraps a whole :class:`~ganforge.rtl.core.core.SparseCore` built with
the smallest legal parameters (:data:`SMALL`: one lane, 8-bit data, 16-bit accumulators,
``max_kernel = max_stride = 1``, 16-word memories, 4-bit coordinates, 2-element lane
FIFOs). Nothing is abstracted: the harness only reads internal signals (the core's
:class:`~ganforge.rtl.core.contexts.CoreState`, each lane's output stage and output FIFO)
to state the invariants that make the properties inductive.

Assumed (the environment; everything else is free, ``AnySeq``):

* no reset after the initial state (the core then scrubs its banks, as after any reset);
* ``cmd`` and ``x_in`` follow the Amaranth stream rule: once ``valid`` is up without
  ``ready``, next cycle ``valid`` is still up and ``payload`` is unchanged;
* ``o.ready`` and ``error_clear`` are free.

Proven in every reachable state (``mode prove``: k-induction, so unbounded):

* ``o`` follows the stream rule: once ``o.valid`` is up without ``o.ready``, next cycle
  ``o.valid`` is still up with the same payload; ``o.valid`` is a register of each lane's
  output FIFO (it does not wait for ``o.ready``);
* every drained word becomes exactly one ``o`` beat: the drain's ``inflight`` count
  equals the words in each lane's output pipeline (drain read, output-stage register,
  output FIFO), never more than that FIFO holds, and the output stage never drops a word (no
  drain read arrives while it stalls);
* a tile's drain issues exactly ``out_h·out_w`` words (FP/EP) or ``cin·K²`` words (WG) of
  the descriptor that ends it, so it delivers exactly that many ``o`` beats;
* ``busy`` is high whenever the core holds undelivered outputs (``o.valid``, or a word in
  flight);
* ``cmd``: nothing is taken during the scrub after reset; a load beat (any kind but
  ``DESC``) is never held up; ``ready`` is only high with ``valid`` (the core waits for
  ``valid``, which the stream rule allows); a ``DESC`` is taken only into a free context;
* ``x_in``: nothing is taken during the scrub; a beat is taken only while the input of an
  accepted pass is open;
* ``error`` is sticky: once non-zero it keeps its value until ``error_clear``, which
  clears it the next cycle; ``irq == (error != 0)``.

Covers: an ``o`` transfer; ``o`` stalled (``valid`` without ``ready``); and a whole pass:
exactly one descriptor accepted (so, with ``error == 0``, its operand words loaded), its
last input beat taken, and the second ``o`` transfer being the last word of the drain of
its tile (one drain finished, one word in flight), with ``error`` still 0.

Not proven: that a pass retires only after its last input beat (so ``x_in.ready`` is never
withdrawn without a transfer, and at most three passes are ahead of the input). That needs
invariants on the tags held in the lanes' input FIFO memories, which the harness cannot
name, so it is left to the simulation tests.
"""

from unittest import mock

from amaranth.asserts import AnySeq
from amaranth.hdl import Array, Assert, Assume, Cat, Cover, Elaboratable, Module, Mux, ResetSignal, Signal
from amaranth.hdl._ast import Assign, Switch

from ganforge.rtl.core import core as core_module
from ganforge.rtl.core import retire as retire_module
from ganforge.rtl.core.contexts import CoreState
from ganforge.rtl.core.core import SparseCore
from ganforge.rtl.core.descriptor import CmdKind, Error
from ganforge.rtl.core.intake import descriptor_error
from ganforge.rtl.core.lane import NCTX, OUT_FIFO_DEPTH
from ganforge.rtl.core.retire import DRAIN_CREDITS
from ganforge.testbench.formal import held

__all__ = ["CoreFormal", "SMALL", "PROVE_DEPTH", "COVER_DEPTH", "CONE_YS", "MUTATIONS"]

#: The smallest core the constructor accepts.
SMALL = dict(lanes=1, data_width=8, acc_width=16, max_kernel=1, max_stride=1, weight_depth=16,
             out_depth=16, coord_bits=4, fifo_depth=2)

#: Faults :class:`CoreFormal` can build in, to show the proof fails on them:
#: ``"o_hold"``: the first lane's output value toggles while ``o`` is stalled;
#: ``"credits"``: the drain keeps one word more in flight than the lanes' output FIFOs hold;
#: ``"no_x_assume"``: the harness does not assume the stream rule on ``x_in`` and ``cmd``.
MUTATIONS = ("o_hold", "credits", "no_x_assume")

#: The proof's depths (``make formal``; :func:`~ganforge.testbench.formal.run_sby`).
PROVE_DEPTH, COVER_DEPTH = 3, 30

_STOP = "%ci*:-$dff,$adff,$sdff,$dffe,$sdffe,$adffe,$ff,$mem_v2,$anyseq"

#: Yosys script, run on the ``design.il`` of a :class:`CoreFormal`: fails unless the
#: combinational fan-in of ``o.valid`` (up to flip-flops and memories) excludes ``o.ready``
#: and that of ``x_in.ready`` excludes ``x_in.valid`` and ``x_in.payload``. As a control,
#: ``cmd.ready`` must depend on ``cmd.valid``. Writes each cone's size to ``cone.txt``.
CONE_YS = f"""read_rtlil design.il
prep -flatten -top top
select -set xr w:core.x_in__ready w:x_in__ready %u {_STOP}
select -assert-none @xr w:core.x_in__valid w:x_in__valid w:core.x_in__payload w:x_in__payload %u %u %u %i
tee -q -o cone.txt select -count @xr
select -set ov w:core.o__valid w:o__valid %u {_STOP}
select -assert-none @ov w:core.o__ready w:o__ready %u %i
tee -q -a cone.txt select -count @ov
select -set cr w:core.cmd__ready w:cmd__ready %u {_STOP}
select -assert-any @cr w:core.cmd__valid w:cmd__valid %u %i
tee -q -a cone.txt select -count @cr
"""


def _signals_named(module, names):
    """The signals called ``names`` that ``module``'s statements drive (locals of an
    elaboration that no Python attribute holds)."""
    found = {}

    def walk(stmts):
        for stmt in stmts:
            if isinstance(stmt, Switch):
                for _patterns, body, _src_loc in stmt.cases:
                    walk(body)
            elif isinstance(stmt, Assign):
                for sig in stmt._lhs_signals():
                    if sig.name in names:
                        found.setdefault(sig.name, sig)

    for stmts in module._statements.values():
        walk(stmts)
    missing = set(names) - set(found)
    if missing:
        raise LookupError(f"no signal {sorted(missing)} in the elaborated module")
    return found


def _open_core(core, platform, mutate):
    """Elaborate ``core`` once, keeping its :class:`CoreState` and each lane's module; the
    core and its lanes then return these same modules when the netlist is built."""
    states = []

    class Recorded(CoreState):
        def __init__(self, *args):
            super().__init__(*args)
            states.append(self)

    credits = DRAIN_CREDITS + (1 if mutate == "credits" else 0)
    with mock.patch.object(core_module, "CoreState", Recorded), \
            mock.patch.object(retire_module, "DRAIN_CREDITS", credits):
        core_m = core.elaborate(platform)
    core.elaborate = lambda platform: core_m
    st = states[0]
    st.lane_modules = []
    for ln in st.lanes:
        lane_m = ln.elaborate(platform)
        ln.elaborate = lambda platform, _m=lane_m: _m
        st.lane_modules.append(lane_m)
    return st, core_m


def _held(m, stream, check, name):
    """The stream rule on ``stream`` (:func:`~ganforge.testbench.formal.held`)."""
    held(m, name, stream.valid, stream.ready, [stream.payload.as_value()], check)


class CoreFormal(Elaboratable):
    """A :class:`SparseCore` (``params`` over :data:`SMALL`) with a free environment and the
    properties above; ``mutate`` (one of :data:`MUTATIONS`) builds in a fault."""

    def __init__(self, mutate=None, **params):
        if mutate is not None and mutate not in MUTATIONS:
            raise ValueError(f"mutate must be one of {MUTATIONS}, got {mutate!r}")
        self.mutate = mutate
        self.params = {**SMALL, **params}

    def elaborate(self, platform):
        m = Module()
        core = SparseCore(**self.params)
        st, core_m = _open_core(core, platform, self.mutate)
        m.submodules.core = core
        d_active, d_lin = _signals_named(core_m, ("d_active", "d_lin")).values()
        stages = [lm.submodules.stage for lm in st.lane_modules]
        ofifos = [lm.submodules.ofifo for lm in st.lane_modules]

        if self.mutate == "o_hold":
            # A fault in the output path: while o is stalled the first lane's value flips
            # every other cycle.
            flip = Signal()
            m.d.sync += flip.eq(~flip)
            first = st.lanes[0].o.payload
            core_m.d.comb += core.o.payload[0].value.eq(
                first.value ^ (flip & core.o.valid & ~core.o.ready))

        # The environment.
        m.d.comb += Assume(~ResetSignal())
        for stream in (core.cmd, core.x_in):
            m.d.comb += [stream.valid.eq(AnySeq(1)),
                         stream.payload.eq(AnySeq(len(stream.payload.as_value())))]
        m.d.comb += [core.o.ready.eq(AnySeq(1)), core.error_clear.eq(AnySeq(1))]
        if self.mutate != "no_x_assume":
            _held(m, core.cmd, Assume, "cmd")
            _held(m, core.x_in, Assume, "x")

        # o: the stream rule; o.valid is a register (each lane's output FIFO r_rdy).
        _held(m, core.o, Assert, "o")
        m.d.comb += Assert(core.o.valid == Cat(*[q.r_rdy for q in ofifos]).all())

        # Every drained word becomes one o beat: inflight counts the words of each lane's
        # output pipeline, within the credits, and the output stage never drops one.
        inflight = st.inflight
        m.d.comb += Assert(inflight <= OUT_FIFO_DEPTH)
        for stage, q in zip(stages, ofifos):
            m.d.comb += [Assert(inflight == stage.i.valid + stage.o.valid + q.level),
                         Assert(~(stage.i.valid & ~stage.i.ready))]
        for stage, q in zip(stages[1:], ofifos[1:]):         # lanes in lockstep
            m.d.comb += [Assert(stage.i.valid == stages[0].i.valid),
                         Assert(stage.o.valid == stages[0].o.valid),
                         Assert(q.level == ofifos[0].level), Assert(q.r_rdy == ofifos[0].r_rdy)]
        m.d.comb += Assert(~((core.o.valid | (inflight != 0)) & ~core.busy))

        # A drain issues the words of its tile's last descriptor: out_h·out_w (FP/EP) or
        # cin·K² (WG). ``issued`` counts the words of the current drain.
        rctx, rd = st.rctx, st.rd
        issued = Signal(len(d_lin) + 1)
        drain_end = st.d_issue & st.retire
        with m.If(drain_end):
            m.d.sync += issued.eq(0)
        with m.Elif(st.d_issue):
            m.d.sync += issued.eq(issued + 1)
        words = Signal(2 * core.cb + 4)
        m.d.comb += words.eq(Mux(st.r_wg, rd.cin * Array(st.kk)[rctx], rd.out_h * rd.out_w))
        with m.If(drain_end):
            m.d.comb += Assert(issued + 1 == words)
        # Invariants: an active drain belongs to the oldest pass, open, good, ending a tile,
        # and its position matches the words issued; a good open context holds a descriptor
        # that passed the check, with its pitch and K².
        r_open, r_bad = st.ctx_open.bit_select(rctx, 1), st.bad.bit_select(rctx, 1)
        with m.If(d_active):
            m.d.comb += [Assert(r_open & ~r_bad & rd.drain), Assert(issued == d_lin),
                         Assert(issued < words)]
            with m.If(~st.r_wg):
                m.d.comb += [Assert(st.d_ow < rd.out_w), Assert(st.d_oh < rd.out_h),
                             Assert(d_lin == st.d_oh * rd.out_w + st.d_ow)]
        with m.Else():
            m.d.comb += Assert((issued == 0) & (d_lin == 0) & (st.d_oh == 0) & (st.d_ow == 0))
        m.d.comb += Assert(~(st.d_issue & ~(d_active | (r_open & ~r_bad & rd.drain))))
        for c in range(NCTX):
            d = st.desc[c]
            code, _ = descriptor_error(m, core, d, st.lg[c])
            lg = Signal(4, name=f"lg_ref{c}")
            for b in range(core.cb):
                with m.If((d.out_w - 1)[b]):
                    m.d.comb += lg.eq(b + 1)
            with m.If(st.ctx_open[c] & ~st.bad[c]):
                m.d.comb += [Assert(code == Error.NONE), Assert(st.lg[c] == lg),
                             Assert(st.kk[c] == d.kernel * d.kernel)]

        # cmd and x_in.
        cmd, x_in = core.cmd, core.x_in
        cmd_take, x_take = cmd.valid & cmd.ready, x_in.valid & x_in.ready
        is_desc = cmd.payload.kind == CmdKind.DESC
        with m.If(st.scrubbing):
            m.d.comb += [Assert(~cmd.ready), Assert(~x_in.ready)]
        with m.Else():
            with m.If(cmd.valid & ~is_desc):
                m.d.comb += Assert(cmd.ready)
        m.d.comb += Assert(~(cmd.ready & ~cmd.valid))
        with m.If(cmd_take & is_desc):
            m.d.comb += Assert(~st.ctx_open.bit_select(st.next_ctx, 1))
        with m.If(x_take):
            m.d.comb += Assert(st.ctx_open.bit_select(st.xctx, 1) &
                               ~st.x_ended.bit_select(st.xctx, 1))

        # error: sticky until error_clear; irq.
        p_err, p_clear = Signal(4), Signal()
        m.d.sync += [p_err.eq(core.error), p_clear.eq(core.error_clear)]
        m.d.comb += Assert(core.irq == (core.error != 0))
        with m.If(p_clear):
            m.d.comb += Assert(core.error == 0)
        with m.Elif(p_err != 0):
            m.d.comb += Assert(core.error == p_err)

        # Covers: an o transfer, a stalled o, and a whole two-output pass.
        o_take = core.o.valid & core.o.ready
        n_desc, n_end, n_o, n_drain = (Signal(3, name=n) for n in ("n_desc", "n_end", "n_o", "n_drain"))
        sat = lambda s, inc: s.eq(Mux(s == 7, 7, s + inc))
        m.d.sync += [sat(n_desc, cmd_take & is_desc), sat(n_end, x_take & x_in.payload.end),
                     sat(n_o, o_take), sat(n_drain, drain_end)]
        m.d.comb += [Cover(o_take), Cover(core.o.valid & ~core.o.ready & (n_o == 0))]
        m.d.comb += Cover(o_take & (n_o == 1) & (inflight == 1) & (n_drain == 1) &
                          (n_desc == 1) & (n_end == 1) & (core.error == 0))
        return m

