"""Delayed per-tensor scaling: each tensor's fraction bits at step *t* come from monitors
read at step *t−1*.

The output stage and the WG drain see every value they write. Per tensor they keep two
registers, filled while the tensor is written:

* ``max_abs``: the largest ``|pre|``, where ``pre = shift_round(acc, shift)`` is the
  rounded value *before* saturation (``acc_width − shift`` bits wide);
* ``saturations``: how many values saturated (``pre`` outside the ``width``-bit range).

After the write the command processor turns them into the tensor's state
(:class:`ScaleState`), all small integers:

* the **exponent** ``e = bitlen(max_abs) − frac_out``: every value of the tensor was
  below ``2**e`` in magnitude (``max_abs = 0`` leaves ``e`` as it was);
* the **headroom** ``h`` (bits left free at the top): a write with saturations raises
  it by one (at most ``h_max``); after ``relax`` writes in a row without saturation it
  drops by one (at least ``h_min``).

The next write of the tensor then uses ``frac_out = width − 1 − h − e`` fraction bits,
so the shift of an accumulator with ``frac_acc`` fraction bits is
``clamp(frac_acc − frac_out, 0, 62)`` (:meth:`ScaleState.shift`). A tensor whose
magnitude does not grow fits with ``h`` bits to spare; one that grew by more than
``2**h`` saturates at its top values, is counted, and the next step has the true
exponent (the monitor sees ``pre`` before saturation) and one more bit of headroom.

**Step 0** (a tensor never written, ``e`` unknown): the op runs twice. The first pass
only fills ``max_abs`` (of the accumulator, shift 0) and writes nothing; the second is
the real write with ``frac_out = width − 1 − h − (bitlen(max|acc|) − frac_acc)``. Later
steps run once.

:class:`Scaler` holds the states of one network, keyed by tensor name, and the tag of
the pass that runs (the discriminator runs in its own step and in the generator's, and
each has its own tensors).
"""

import numpy as np

from .fixed import as_int_array, int_range, saturate, shift_round

__all__ = ["ScaleState", "Scaler", "bit_length", "H_INIT", "H_MIN", "H_MAX", "RELAX"]

#: Headroom bits of a new tensor, the fewest and the most.
H_INIT, H_MIN, H_MAX = 1, 1, 4
#: Writes in a row without saturation after which the headroom drops by one bit.
RELAX = 32


def bit_length(v):
    """Bit length of the integer ``v ≥ 0`` (0 for 0): the position of the leading one, plus one."""
    return int(v).bit_length()


class ScaleState:
    """The scaling registers of one tensor: exponent, headroom, clean-write count, monitors.

    ``h_init``, ``h_min``, ``h_max``: headroom bits (new tensor, floor, ceiling);
    ``relax``: writes without saturation before the headroom drops.
    """

    def __init__(self, h_init=H_INIT, h_min=H_MIN, h_max=H_MAX, relax=RELAX):
        for name, v in (("h_init", h_init), ("h_min", h_min), ("h_max", h_max), ("relax", relax)):
            if not isinstance(v, (int, np.integer)) or v < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {v!r}")
        if not h_min <= h_init <= h_max:
            raise ValueError(f"need h_min <= h_init <= h_max, got {h_min}, {h_init}, {h_max}")
        self.exp = None            #: e: every value written last time was below 2**e
        self.headroom = int(h_init)
        self.h_min, self.h_max, self.relax = int(h_min), int(h_max), int(relax)
        self.clean = 0             #: writes in a row without saturation
        self.max_abs = 0           #: monitor of the last write: max |pre|
        self.saturations = 0       #: monitor of the last write: saturated values
        self.writes = 0
        self.total_saturations = 0

    def frac_out(self, width, exp=None):
        """Fraction bits of the next write: ``width − 1 − h − e``."""
        e = self.exp if exp is None else exp
        return int(width) - 1 - self.headroom - e

    def shift(self, frac_acc, width, acc=None):
        """Output-stage shift of an accumulator with ``frac_acc`` fraction bits.

        ``clamp(frac_acc − frac_out, 0, 62)``. A tensor never measured is measured
        from ``acc`` (the calibration pass, see the module docstring); an all-zero one
        gets shift 0.
        """
        e = self.exp
        if e is None:
            m = int(np.max(np.abs(as_int_array(acc, "acc")))) if acc is not None and np.size(acc) else 0
            if m == 0:
                return 0
            e = bit_length(m) - frac_acc
        return int(min(max(frac_acc - self.frac_out(width, e), 0), 62))

    def observe(self, pre, frac_out, width):
        """Fill the monitors from the pre-saturation values ``pre`` (``frac_out`` fraction
        bits) of one write, and update the exponent and the headroom (the rule above)."""
        pre = as_int_array(pre, "pre")
        lo, hi = int_range(width)
        self.max_abs = int(np.max(np.abs(pre))) if pre.size else 0
        self.saturations = int(np.count_nonzero((pre < lo) | (pre > hi)))
        self.writes += 1
        self.total_saturations += self.saturations
        if self.max_abs:
            self.exp = bit_length(self.max_abs) - int(frac_out)
        if self.saturations:
            self.headroom = min(self.headroom + 1, self.h_max)
            self.clean = 0
        else:
            self.clean += 1
            if self.clean >= self.relax and self.headroom > self.h_min:
                self.headroom -= 1
                self.clean = 0

    def requantize(self, acc, frac_acc, width, frozen=False):
        """Write an accumulator through the output stage with this tensor's shift.

        Returns ``(y, frac_out, pre)``: ``y = saturate(pre, width)``,
        ``pre = shift_round(acc, shift)``. Updates the monitors unless ``frozen``.
        """
        s = self.shift(frac_acc, width, acc)
        pre = shift_round(acc, s)
        frac = int(frac_acc) - s
        if not frozen:
            self.observe(pre, frac, width)
        return saturate(pre, width), frac, pre


class Scaler:
    """The :class:`ScaleState` of every tensor of one network, made on first use.

    ``tag`` names the pass that runs (e.g. ``"d"`` for the discriminator's step and
    ``"g"`` for the generator's); a tensor's key is ``"{tag}:{name}"``. With ``frozen``
    the monitors are read but not updated (sampling after training).
    """

    def __init__(self, **state_args):
        self.states = {}
        self.tag = ""
        self.frozen = False
        self.state_args = state_args

    def state(self, name):
        """The state of tensor ``name`` in the current pass (made on first use)."""
        key = f"{self.tag}:{name}"
        if key not in self.states:
            self.states[key] = ScaleState(**self.state_args)
        return self.states[key]

    def requantize(self, name, acc, frac_acc, width):
        """:meth:`ScaleState.requantize` of tensor ``name``: ``(y, frac_out, pre)``."""
        return self.state(name).requantize(acc, frac_acc, width, frozen=self.frozen)

    def saturation_totals(self):
        """``{key: saturated values over all writes}`` of every tensor."""
        return {k: s.total_saturations for k, s in self.states.items()}
