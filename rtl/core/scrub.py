"""The accumulator scrub after a reset.

A lane clears each accumulator word as it drains it, so the banks are all zero between
tiles and a tile's first tap adds to zero. The banks are memories: a reset does not
clear them. A reset in the middle of a tile would leave its partial sums behind, and the
next tile on that bank would start from them. So after every reset the core writes zero
to every word of every bank (``out_depth`` cycles, all lanes and banks at once) before
it takes a command or an input beat.
"""

from amaranth.hdl import Signal

__all__ = ["scrub"]


def scrub(m, st):
    """Adds ``scrubbing`` (high from reset until the last word is cleared); drives every
    lane's ``scrub`` and ``scrub_addr``. The core's intake, dispatch and ``busy`` read
    ``scrubbing``; its cycle counters do not count those cycles."""
    core = st.core
    st.scrubbing = scrubbing = Signal(init=1)
    addr = Signal(range(core.out_depth), name="scrub_addr")
    with m.If(scrubbing):
        m.d.sync += addr.eq(addr + 1)
        with m.If(addr == core.out_depth - 1):
            m.d.sync += scrubbing.eq(0)
    for ln in st.lanes:
        m.d.comb += [ln.scrub.eq(scrubbing), ln.scrub_addr.eq(addr)]
