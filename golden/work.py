"""Work counters: how many MACs an op needs, dense and with each kind of skipping.

Definitions (the ones the hardware counters and every speedup use):

* **dense**: products of an input element and a weight that reach an output,
  i.e. the MACs of the layer with no skipping; taps that fall into padding
  are not MACs. For a transposed convolution this is the zero-free count.
* **output_mask_skipped**: dense MACs of outputs whose mask bit is off (a
  stored ReLU mask in EP, the EORS prediction in FP); they are not computed.
* **input_zero_skipped**: MACs of computed outputs whose input element is zero.
* **effective**: ``dense − output_mask_skipped − input_zero_skipped``: the MACs
  a perfect dual-sparsity machine issues. ``effective / lanes`` is the ideal
  cycle count.
* **zero_insert** (transposed conv only): the MACs of the naive method on
  zero-inserted input, every output times the full ``C_in·K·K`` kernel;
  ``zero_insertion_skipped = zero_insert − dense``.

For weight gradients both operands are activations/errors: a MAC is skipped
when the error ``dy`` is zero (``output_mask_skipped`` when it is masked,
counted as input zero otherwise) or when ``x`` is zero.
"""

import numpy as np

from .conv import conv2d, conv_transpose2d, conv2d_weight_grad
from .fixed import as_int_array

__all__ = ["conv2d_work", "conv_transpose2d_work", "weight_grad_work", "taps_per_output"]


def _ones_kernel(cin, k):
    return np.ones((1, cin, k, k), dtype=np.int64)


def taps_per_output(x, w_shape, stride=1, padding=0, *, transposed=False, output_padding=0):
    """``[N, 1, Ho, Wo]``: per output position, the taps whose input element of ``x`` is
    non-zero: the MACs of one output channel with input zeros skipped (``w_shape`` is the
    weight's, ``[C_out, C_in, K, K]``, or ``[C_in, C_out, K, K]`` when ``transposed``)."""
    nz = (as_int_array(x, "x") != 0).astype(np.int64)
    k = w_shape[2]
    if transposed:
        ones = np.ones((w_shape[0], 1, k, k), dtype=np.int64)
        return conv_transpose2d(nz, ones, stride, padding, output_padding)
    return conv2d(nz, _ones_kernel(w_shape[1], k), stride, padding)


def _counts(per_pos, out_mask, cout):
    """Sum per-output-position counts ``[N,1,Ho,Wo]`` over ``C_out`` outputs, masked or not."""
    total = int(per_pos.sum()) * cout
    if out_mask is None:
        return total, 0
    m = np.asarray(out_mask, dtype=bool)
    if m.shape[0] != per_pos.shape[0] or m.shape[2:] != per_pos.shape[2:] or m.shape[1] != cout:
        raise ValueError(f"output mask shape {m.shape} does not match the output")
    kept = int((per_pos * m).sum())            # per_pos broadcasts over C_out
    return kept, total - kept


def conv2d_work(x, w_shape, stride=1, padding=0, out_mask=None):
    """MAC counts of ``conv2d(x, w)``; ``out_mask`` (NCHW bool, True = compute) is optional."""
    x = as_int_array(x, "x")
    cout = w_shape[0]
    dense_pos = taps_per_output(np.ones_like(x), w_shape, stride, padding)
    nz_pos = taps_per_output(x, w_shape, stride, padding)
    dense = int(dense_pos.sum()) * cout
    kept_dense, masked = _counts(dense_pos, out_mask, cout)
    effective, _ = _counts(nz_pos, out_mask, cout)
    return {"dense": dense, "output_mask_skipped": masked,
            "input_zero_skipped": kept_dense - effective, "effective": effective}


def conv_transpose2d_work(x, w_shape, stride=1, padding=0, output_padding=0, out_mask=None):
    """MAC counts of ``conv_transpose2d(x, w)``, with the zero-insertion count."""
    x = as_int_array(x, "x")
    cin, cout, k, _ = w_shape
    geo = dict(transposed=True, output_padding=output_padding)
    dense_pos = taps_per_output(np.ones_like(x), w_shape, stride, padding, **geo)
    nz_pos = taps_per_output(x, w_shape, stride, padding, **geo)
    dense = int(dense_pos.sum()) * cout
    kept_dense, masked = _counts(dense_pos, out_mask, cout)
    effective, _ = _counts(nz_pos, out_mask, cout)
    n, _, ho, wo = dense_pos.shape
    zero_insert = n * cout * ho * wo * cin * k * k
    return {"dense": dense, "output_mask_skipped": masked,
            "input_zero_skipped": kept_dense - effective, "effective": effective,
            "zero_insert": zero_insert, "zero_insertion_skipped": zero_insert - dense}


def weight_grad_work(x, dy, stride=1, padding=0, kernel_size=1, dy_mask=None, transposed=False):
    """MAC counts of a weight gradient (conv, or transposed conv with ``transposed=True``).

    ``dy_mask`` (optional, True = error kept) attributes zero errors that the
    mask removed to ``output_mask_skipped``.
    """
    x, dy = as_int_array(x, "x"), as_int_array(dy, "dy")
    if transposed:                     # roles swap: dy is correlated with x as the "input"
        x, dy = dy, x
        dy_mask = None
    k = int(kernel_size)
    nx, ndy = (x != 0).astype(np.int64), (dy != 0).astype(np.int64)
    ones_x, ones_dy = np.ones_like(x), np.ones_like(dy)
    dense = int(conv2d_weight_grad(ones_x, ones_dy, stride, padding, k).sum())
    effective = int(conv2d_weight_grad(nx, ndy, stride, padding, k).sum())
    masked = 0
    if dy_mask is not None:
        m = (~np.asarray(dy_mask, dtype=bool)).astype(np.int64)
        if m.shape != dy.shape:
            raise ValueError(f"dy_mask shape {m.shape} does not match dy shape {dy.shape}")
        if np.any(dy[m.astype(bool)]):
            raise ValueError("dy is non-zero where dy_mask is off: apply the mask first")
        masked = int(conv2d_weight_grad(ones_x, m, stride, padding, k).sum())
    return {"dense": dense, "output_mask_skipped": masked,
            "input_zero_skipped": dense - masked - effective, "effective": effective}
