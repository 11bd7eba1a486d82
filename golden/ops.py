"""The six layer ops of a convolutional GAN's training step, as one table, and what each
must produce.

:data:`TABLE` describes every op once: its kind (FP, EP or WG), the tensors its golden
function takes, whether the convolution it computes is a transposed one, and how that
function is called. Whatever handles "an op" reads the table instead of dispatching on
its name: the references below, and the firmware's compiler
(:mod:`ganforge.firmware.compiler`).

============================ ==== ========== ========== ==========================================
op                           kind tensors    transposed golden function (s: stride, p: padding)
============================ ==== ========== ========== ==========================================
conv                         fp   x, w       no         ``conv2d(x, w, s, p)``
conv_transpose               fp   x, w       yes        ``conv_transpose2d(x, w, s, p, output_padding)``
conv_input_grad              ep   dy, w      yes        ``conv2d_input_grad(dy, w, s, p, input_hw)``
conv_transpose_input_grad    ep   dy, w      no         ``conv_transpose2d_input_grad(dy, w, s, p)``
conv_weight_grad             wg   x, dy      no         ``conv2d_weight_grad(x, dy, s, p, kernel_size)``
conv_transpose_weight_grad   wg   x, dy      yes        ``conv_transpose2d_weight_grad(x, dy, s, p, kernel_size)``
============================ ==== ========== ========== ==========================================

An FP or EP op convolves its first tensor (the data: ``x`` or ``dy``) with the weights
``w``, plainly or transposed. A weight gradient correlates ``x`` with ``dy``; the
transposed one is the plain one with the two swapped (:meth:`OpSpec.wg_pair`).

The references (:func:`reference_result`, :func:`work_counts`, :func:`audit_counts`)
take the tensors as a dict named as in the table and the layer's parameters as keywords,
as the compiler does, and say what a machine running the op must return and count.
"""

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from . import conv as C
from .fixed import as_int_array, output_stage
from .work import conv2d_work, conv_transpose2d_work, weight_grad_work

__all__ = ["OpSpec", "TABLE", "OPS", "op_spec", "reference_result", "work_counts",
           "audit_counts"]


@dataclass(frozen=True)
class OpSpec:
    """One op of :data:`TABLE`.

    ``kind``: ``"fp"``, ``"ep"`` or ``"wg"``. ``tensors``: the names of the golden
    function's two tensor arguments, in order (for FP and EP, the data then ``"w"``).
    ``transposed``: FP/EP: the op computes a transposed convolution of the data; WG: the
    op is the plain weight gradient with ``x`` and ``dy`` swapped. ``golden``: the golden
    function, called as ``golden(a, b, stride, padding[, extra])``. ``extra``: the
    parameter passed as its fifth argument (``None``: none).
    """

    name: str
    kind: str
    tensors: tuple
    transposed: bool
    golden: Callable
    extra: Optional[str] = None

    @property
    def data(self):
        """FP/EP: the name of the tensor the op convolves (its elements stream through)."""
        return self.tensors[0]

    def accumulate(self, t, stride, padding, extra):
        """The op's exact result on the int64 tensors ``t`` (``extra``: the value of the
        parameter named by :attr:`extra`, ignored when there is none)."""
        args = [t[name] for name in self.tensors] + [stride, padding]
        return self.golden(*args, *([extra] if self.extra else []))

    def out_hw(self, data_hw, kernel_size, stride=1, padding=0, output_padding=0,
               input_hw=None):
        """FP/EP: the output map's ``(H, W)`` from the data's. The EP of a conv gives the
        forward input's size when ``input_hw`` is known (the stride may leave rows unread),
        the natural size otherwise; ``output_padding`` serves ``conv_transpose`` only."""
        if not self.transposed:
            return C.conv2d_out_hw(data_hw, kernel_size, stride, padding)
        if self.extra == "input_hw":
            if input_hw is not None:
                return tuple(input_hw)
            output_padding = 0
        return C.conv_transpose2d_out_hw(data_hw, kernel_size, stride, padding, output_padding)

    def wg_pair(self, t):
        """WG: ``(x, dy)`` of the plain weight gradient that computes this op on ``t``."""
        return (t["dy"], t["x"]) if self.transposed else (t["x"], t["dy"])


TABLE = {spec.name: spec for spec in (
    OpSpec("conv", "fp", ("x", "w"), False, C.conv2d),
    OpSpec("conv_transpose", "fp", ("x", "w"), True, C.conv_transpose2d, "output_padding"),
    OpSpec("conv_input_grad", "ep", ("dy", "w"), True, C.conv2d_input_grad, "input_hw"),
    OpSpec("conv_transpose_input_grad", "ep", ("dy", "w"), False, C.conv_transpose2d_input_grad),
    OpSpec("conv_weight_grad", "wg", ("x", "dy"), False, C.conv2d_weight_grad, "kernel_size"),
    OpSpec("conv_transpose_weight_grad", "wg", ("x", "dy"), True, C.conv_transpose2d_weight_grad,
           "kernel_size"),
)}

#: The op names, FP and EP ops first (``OPS[:4]`` take an output mask).
OPS = tuple(TABLE)


def op_spec(op):
    """The :class:`OpSpec` of ``op``; a ``ValueError`` naming the ops when it is none."""
    try:
        return TABLE[op]
    except (KeyError, TypeError):
        raise ValueError(f"unknown op {op!r}; expected one of {', '.join(OPS)}") from None


def _int_tensors(tensors):
    return {name: as_int_array(v, name) for name, v in tensors.items()}


def reference_result(op, tensors, *, stride=1, padding=0, output_padding=0, kernel_size=None,
                     input_hw=None, shift=0, activation="identity", slope_shift=2, bias=None,
                     out_mask=None, width=16):
    """What the core must return for ``op``: the golden op, then the output stage
    (:func:`~.fixed.output_stage`), then the mask. ``(y, relu_mask)``, both NCHW."""
    spec = op_spec(op)
    extra = {"output_padding": output_padding, "input_hw": input_hw,
             "kernel_size": kernel_size}.get(spec.extra)
    acc = spec.accumulate(_int_tensors(tensors), stride, padding, extra)
    y, m = output_stage(acc, shift, width, activation, slope_shift, bias)
    if out_mask is not None:
        om = np.asarray(out_mask, dtype=bool)
        y, m = np.where(om, y, 0), m & om
    return y, m


def work_counts(op, tensors, *, stride=1, padding=0, output_padding=0, kernel_size=None,
                input_hw=None, out_mask=None, **_):
    """The golden work counts of ``op``, named as the core's counters.

    ``dense_macs``, ``output_mask_skipped``, ``input_zero_skipped``,
    ``zero_insertion_skipped`` (transposed FP/EP ops; 0 otherwise) and
    ``effective_macs``: what a perfect dual-sparsity machine issues. Weight
    gradients attribute every skipped MAC to input zeros (both operands are data).
    Other keywords (the output stage's) are ignored.
    """
    spec = op_spec(op)
    t = _int_tensors(tensors)
    s, p = stride, padding
    if spec.kind == "wg":
        wk = weight_grad_work(t["x"], t["dy"], s, p, kernel_size, transposed=spec.transposed)
    elif spec.transposed:
        data, w_shape = t[spec.data], t["w"].shape
        out = spec.out_hw(data.shape[2:], w_shape[2], s, p, output_padding, input_hw)
        natural = C.conv_transpose2d_out_hw(data.shape[2:], w_shape[2], s, p)
        op_pad = tuple(a - b for a, b in zip(out, natural))
        wk = conv_transpose2d_work(data, w_shape, s, p, op_pad, out_mask)
    else:
        wk = conv2d_work(t[spec.data], t["w"].shape, s, p, out_mask)
    return {"dense_macs": wk["dense"], "output_mask_skipped": wk["output_mask_skipped"],
            "input_zero_skipped": wk["input_zero_skipped"],
            "zero_insertion_skipped": wk.get("zero_insertion_skipped", 0),
            "effective_macs": wk["effective"]}


def audit_counts(op, tensors, *, out_mask, **params):
    """What the core's ``false_zero`` and ``missed_zero`` count in an audited run of ``op``
    (FP or EP) with ``out_mask``: outputs the mask removes whose ReLU mask bit is 1, and
    outputs it keeps whose bit is 0 (the bit of the output stage without the mask)."""
    if op_spec(op).kind == "wg":
        raise ValueError(f"{op}: only FP and EP ops take an output mask")
    _, relu = reference_result(op, tensors, **params)
    om = np.asarray(out_mask, dtype=bool)
    return {"false_zero": int(np.count_nonzero(~om & relu)),
            "missed_zero": int(np.count_nonzero(om & ~relu))}
