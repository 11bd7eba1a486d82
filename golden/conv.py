"""Convolutions and their exact adjoints, NCHW, in exact integer arithmetic.

Integer inputs give exact int64 results. The heavy lifting is a float64 BLAS
matrix product, which is exact for integers as long as every partial sum stays
below 2**53: :func:`exact_matmul` checks that bound (max|a|·max|b|·inner) and
falls back to an int64 product (checked against 2**63) when it does not hold.
Float inputs give the float64 result: the float training reference, checked by
finite differences.

Layouts (PyTorch's): conv weights ``[C_out, C_in, K, K]``; transposed-conv
weights ``[C_in, C_out, K, K]``. Strides and paddings are square.

Transposed convolution is computed the GANAX way, as ``stride*stride`` dense
phase sub-convolutions that never touch an inserted zero;
:func:`conv_transpose2d_zero_insert` is the naive reference it must equal
exactly.
"""

import numpy as np

from .fixed import as_int_array

__all__ = [
    "exact_matmul", "conv2d", "conv_transpose2d", "conv_transpose2d_zero_insert",
    "conv2d_input_grad", "conv2d_weight_grad", "conv_transpose2d_input_grad",
    "conv_transpose2d_weight_grad", "conv2d_out_hw", "conv_transpose2d_out_hw",
    "transpose_phases",
]

_EXACT_F64 = 1 << 53
_EXACT_I64 = 1 << 63


def _operand(a, name):
    """Integer arrays become int64; float arrays stay float64 (reference path)."""
    a = np.asarray(a)
    if np.issubdtype(a.dtype, np.floating):
        return a.astype(np.float64, copy=False)
    return as_int_array(a, name)


def _absmax(a):
    """``max|a|`` as a Python int (no wrap-around at the int64 minimum)."""
    return max(abs(int(a.max())), abs(int(a.min())))


def _is_float(*arrays):
    return any(a.dtype == np.float64 for a in arrays)


def exact_matmul(a, b):
    """``a @ b`` for 2-D arrays; exact int64 for integer operands.

    Uses float64 BLAS when ``max|a| * max|b| * a.shape[1] < 2**53`` (every
    partial sum is then an exactly representable integer, whatever the
    summation order), int64 arithmetic below ``2**63``, and raises
    ``OverflowError`` beyond.
    """
    if _is_float(a, b):
        return np.asarray(a, np.float64) @ np.asarray(b, np.float64)
    if a.size == 0 or b.size == 0:
        return np.zeros((a.shape[0], b.shape[1]), dtype=np.int64)
    bound = _absmax(a) * _absmax(b) * a.shape[1]
    if bound < _EXACT_F64:
        return (a.astype(np.float64) @ b.astype(np.float64)).astype(np.int64)
    if bound < _EXACT_I64:
        return a @ b
    raise OverflowError(f"matrix product may exceed int64 (bound {bound})")


def _check_4d(a, name):
    if a.ndim != 4:
        raise ValueError(f"{name} must be 4-D (NCHW), got shape {a.shape}")


def _check_params(stride, padding):
    if int(stride) < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    if int(padding) < 0:
        raise ValueError(f"padding must be >= 0, got {padding}")
    return int(stride), int(padding)


def conv2d_out_hw(in_hw, kernel_size, stride=1, padding=0):
    """Output height and width of a convolution."""
    return tuple((n + 2 * padding - kernel_size) // stride + 1 for n in in_hw)


def conv_transpose2d_out_hw(in_hw, kernel_size, stride=1, padding=0, output_padding=0):
    """Output height and width of a transposed convolution."""
    op = _pair(output_padding)
    return tuple((n - 1) * stride - 2 * padding + kernel_size + o for n, o in zip(in_hw, op))


def _pair(v):
    if isinstance(v, (tuple, list)):
        if len(v) != 2:
            raise ValueError(f"expected an int or a pair, got {v!r}")
        return int(v[0]), int(v[1])
    return int(v), int(v)


def _windows(x, kh, kw, stride, pad_lo, pad_hi):
    """im2col: ``[N*Ho*Wo, C*kh*kw]`` of ``x`` zero-padded by ``pad_lo``/``pad_hi`` (pairs)."""
    n, c = x.shape[:2]
    xp = np.pad(x, ((0, 0), (0, 0), (pad_lo[0], pad_hi[0]), (pad_lo[1], pad_hi[1])))
    if xp.shape[2] < kh or xp.shape[3] < kw:
        return None, (0, 0)
    win = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(2, 3))
    win = win[:, :, ::stride, ::stride]
    ho, wo = win.shape[2], win.shape[3]
    cols = win.transpose(0, 2, 3, 1, 4, 5).reshape(n * ho * wo, c * kh * kw)
    return cols, (ho, wo)


def _to_f64_if_exact(a, b, inner):
    """Cast integer operands to float64 up front when their products sum exactly there.

    Returns ``(a, b, exact_int)``: ``exact_int`` is True when the inputs were
    integers, so the float result must be cast back to int64. Casting before
    im2col saves converting the (larger) column matrix.
    """
    if _is_float(a, b):
        return a, b, False
    if a.size and b.size and _absmax(a) * _absmax(b) * inner < _EXACT_F64:
        return a.astype(np.float64), b.astype(np.float64), True
    return a, b, False


def _correlate(x, w, stride, pad_lo, pad_hi):
    """Cross-correlation of NCHW ``x`` with ``w[Cout, Cin, kh, kw]`` (any kernel shape)."""
    n = x.shape[0]
    cout, cin, kh, kw = w.shape
    dtype = np.float64 if _is_float(x, w) else np.int64
    x, w, cast_back = _to_f64_if_exact(x, w, cin * kh * kw)
    cols, (ho, wo) = _windows(x, kh, kw, stride, pad_lo, pad_hi)
    if cols is None or ho <= 0 or wo <= 0:
        return np.zeros((n, cout, max(ho, 0), max(wo, 0)), dtype=dtype)
    out = exact_matmul(cols, w.reshape(cout, cin * kh * kw).T)
    if cast_back:
        out = out.astype(np.int64)
    return out.reshape(n, ho, wo, cout).transpose(0, 3, 1, 2)


def conv2d(x, w, stride=1, padding=0):
    """``torch.nn.functional.conv2d(x, w, stride=stride, padding=padding)``, exact.

    ``x``: ``[N, C_in, H, W]``; ``w``: ``[C_out, C_in, K, K]``.
    """
    x, w = _operand(x, "x"), _operand(w, "w")
    _check_4d(x, "x")
    _check_4d(w, "w")
    stride, padding = _check_params(stride, padding)
    if x.shape[1] != w.shape[1]:
        raise ValueError(f"conv2d: x has {x.shape[1]} channels but w expects {w.shape[1]}")
    ho, wo = conv2d_out_hw(x.shape[2:], w.shape[2], stride, padding)
    if ho < 1 or wo < 1:
        raise ValueError(f"conv2d: kernel {w.shape[2]} does not fit input {x.shape[2:]} with padding {padding}")
    return _correlate(x, w, stride, (padding, padding), (padding, padding))


def transpose_phases(kernel_size, stride, padding):
    """The zero-free phases of a transposed convolution along one axis.

    For output index ``o`` with ``(o + padding) % stride == r`` the taps that
    meet real (not inserted) input are ``k = r + j*stride``, reading input
    ``i = (o + padding - k) / stride``. Returns a list of ``(r, taps)`` with
    ``taps = [r, r + stride, ...] < kernel_size`` for ``r`` in ``0..stride-1``.
    """
    return [(r, list(range(r, kernel_size, stride))) for r in range(stride)]


def _phase_axis(r, taps, n_in, n_out, stride, padding):
    """Output indices of phase ``r`` along one axis and the input padding they need.

    Output ``o = stride*m + r - padding``; tap ``j`` (kernel index
    ``taps[j]``) reads input ``m - j``. Returns ``(o0, count, m0, pad_lo, pad_hi)``:
    the first output index, how many, the first ``m``, and the zero padding of
    the input so that a stride-1 correlation with the flipped sub-kernel
    yields outputs ``m0 .. m0+count-1``.
    """
    m0 = -((r - padding) // stride)             # ceil((padding - r) / stride): first o >= 0
    m1 = (n_out - 1 + padding - r) // stride    # last o <= n_out-1
    count = max(m1 - m0 + 1, 0)
    j = len(taps)
    # Output m reads input rows m-j+1 .. m (flipped taps) -> window start m-j+1.
    start = m0 - j + 1
    pad_lo = max(0, -start)
    pad_hi = max(0, (m1) - (n_in - 1))
    return stride * m0 + r - padding, count, start + pad_lo, pad_lo, pad_hi


def conv_transpose2d(x, w, stride=1, padding=0, output_padding=0):
    """``torch.nn.functional.conv_transpose2d``, exact, by zero-free phase sub-convolutions.

    ``x``: ``[N, C_in, H, W]``; ``w``: ``[C_in, C_out, K, K]``. The output is
    split into ``stride*stride`` phases; each is a dense stride-1 convolution
    of ``x`` with the sub-kernel ``w[:, :, rh::stride, rw::stride]`` (flipped),
    so no multiplication ever involves an inserted zero.
    """
    x, w = _operand(x, "x"), _operand(w, "w")
    _check_4d(x, "x")
    _check_4d(w, "w")
    stride, padding = _check_params(stride, padding)
    oph, opw = _pair(output_padding)
    if not (0 <= oph < stride and 0 <= opw < stride):
        raise ValueError(f"output_padding must be in 0..stride-1, got {output_padding}")
    if x.shape[1] != w.shape[0]:
        raise ValueError(f"conv_transpose2d: x has {x.shape[1]} channels but w expects {w.shape[0]}")
    n, cin, h, wd = x.shape
    cout, k = w.shape[1], w.shape[2]
    ho, wo = conv_transpose2d_out_hw((h, wd), k, stride, padding, (oph, opw))
    if ho < 1 or wo < 1:
        raise ValueError(f"conv_transpose2d: padding {padding} leaves no output")
    dtype = np.float64 if _is_float(x, w) else np.int64
    out = np.zeros((n, cout, ho, wo), dtype=dtype)
    phases = transpose_phases(k, stride, padding)
    for rh, taps_h in phases:
        oh0, nh, sh, plh, phh = _phase_axis(rh, taps_h, h, ho, stride, padding)
        if nh == 0 or not taps_h:
            continue
        for rw, taps_w in phases:
            ow0, nw, sw, plw, phw = _phase_axis(rw, taps_w, wd, wo, stride, padding)
            if nw == 0 or not taps_w:
                continue
            # Sub-kernel, flipped so that the phase is a plain correlation: [C_out, C_in, jh, jw].
            sub = w[:, :, taps_h[::-1], :][:, :, :, taps_w[::-1]].transpose(1, 0, 2, 3)
            xp = np.pad(x, ((0, 0), (0, 0), (plh, phh), (plw, phw)))
            xp = xp[:, :, sh:sh + nh + len(taps_h) - 1, sw:sw + nw + len(taps_w) - 1]
            res = _correlate(xp, np.ascontiguousarray(sub), 1, (0, 0), (0, 0))
            out[:, :, oh0:oh0 + stride * nh:stride, ow0:ow0 + stride * nw:stride] = res
    return out


def conv_transpose2d_zero_insert(x, w, stride=1, padding=0, output_padding=0):
    """Naive transposed convolution on zero-inserted input: the reference.

    Inserts ``stride-1`` zeros between input pixels, pads by ``K-1`` (plus
    ``output_padding`` at the bottom/right), correlates with the flipped,
    transposed kernel, and crops ``padding`` from each side.
    """
    x, w = _operand(x, "x"), _operand(w, "w")
    _check_4d(x, "x")
    _check_4d(w, "w")
    stride, padding = _check_params(stride, padding)
    oph, opw = _pair(output_padding)
    if x.shape[1] != w.shape[0]:
        raise ValueError(f"conv_transpose2d: x has {x.shape[1]} channels but w expects {w.shape[0]}")
    n, cin, h, wd = x.shape
    k = w.shape[2]
    ho, wo = conv_transpose2d_out_hw((h, wd), k, stride, padding, (oph, opw))
    xd = np.zeros((n, cin, (h - 1) * stride + 1, (wd - 1) * stride + 1), dtype=x.dtype)
    xd[:, :, ::stride, ::stride] = x
    wc = np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))
    full = _correlate(xd, wc, 1, (k - 1, k - 1), (k - 1 + oph, k - 1 + opw))
    return full[:, :, padding:padding + ho, padding:padding + wo]


def conv2d_input_grad(dy, w, stride=1, padding=0, input_hw=None):
    """Adjoint of :func:`conv2d` w.r.t. ``x``: the EP of a conv layer.

    ``dy``: ``[N, C_out, Ho, Wo]``; ``w``: ``[C_out, C_in, K, K]``;
    ``input_hw``: ``(H, W)`` of ``x`` (needed when the stride leaves rows
    unread). It is ``conv_transpose2d(dy, w, stride, padding, output_padding)``,
    zero-free.
    """
    dy, w = _operand(dy, "dy"), _operand(w, "w")
    _check_4d(dy, "dy")
    _check_4d(w, "w")
    stride, padding = _check_params(stride, padding)
    k = w.shape[2]
    if dy.shape[1] != w.shape[0]:
        raise ValueError(f"conv2d_input_grad: dy has {dy.shape[1]} channels but w has {w.shape[0]} outputs")
    base = conv_transpose2d_out_hw(dy.shape[2:], k, stride, padding)
    if input_hw is None:
        input_hw = base
    op = tuple(int(n) - b for n, b in zip(input_hw, base))
    if any(not 0 <= o < stride for o in op):
        raise ValueError(f"conv2d_input_grad: dy shape {dy.shape[2:]} is not the output of a "
                         f"{k}x{k} stride-{stride} conv on input {tuple(input_hw)}")
    return conv_transpose2d(dy, w, stride, padding, op)


def conv2d_weight_grad(x, dy, stride=1, padding=0, kernel_size=None):
    """Adjoint of :func:`conv2d` w.r.t. ``w``: the WG of a conv layer.

    ``dw[co, ci, kh, kw] = sum over n, oh, ow of dy[n, co, oh, ow] *
    x_padded[n, ci, oh*stride + kh, ow*stride + kw]``; shape ``[C_out, C_in, K, K]``.
    """
    x, dy = _operand(x, "x"), _operand(dy, "dy")
    _check_4d(x, "x")
    _check_4d(dy, "dy")
    stride, padding = _check_params(stride, padding)
    if kernel_size is None:
        raise ValueError("conv2d_weight_grad: kernel_size is required")
    k = int(kernel_size)
    if x.shape[0] != dy.shape[0]:
        raise ValueError(f"conv2d_weight_grad: batch of x ({x.shape[0]}) and dy ({dy.shape[0]}) differ")
    expect = conv2d_out_hw(x.shape[2:], k, stride, padding)
    if tuple(dy.shape[2:]) != expect:
        raise ValueError(f"conv2d_weight_grad: dy spatial shape {dy.shape[2:]} should be {expect}")
    n, cout = dy.shape[:2]
    x, dy, cast_back = _to_f64_if_exact(x, dy, n * dy.shape[2] * dy.shape[3])
    cols, _ = _windows(x, k, k, stride, (padding, padding), (padding, padding))
    dym = dy.transpose(0, 2, 3, 1).reshape(-1, cout)
    dw = exact_matmul(np.ascontiguousarray(dym.T), cols)
    if cast_back:
        dw = dw.astype(np.int64)
    return dw.reshape(cout, x.shape[1], k, k)


def conv_transpose2d_input_grad(dy, w, stride=1, padding=0):
    """Adjoint of :func:`conv_transpose2d` w.r.t. ``x``: a plain conv of ``dy`` with ``w``.

    ``dy``: ``[N, C_out, Ho, Wo]``; ``w``: ``[C_in, C_out, K, K]``; returns ``[N, C_in, H, W]``.
    """
    return conv2d(dy, w, stride, padding)


def conv_transpose2d_weight_grad(x, dy, stride=1, padding=0, kernel_size=None):
    """Adjoint of :func:`conv_transpose2d` w.r.t. ``w``; shape ``[C_in, C_out, K, K]``.

    ``dw[ci, co, kh, kw] = sum x[n, ci, ih, iw] * dy[n, co, ih*s - p + kh, iw*s - p + kw]``.
    """
    x, dy = _operand(x, "x"), _operand(dy, "dy")
    _check_4d(x, "x")
    _check_4d(dy, "dy")
    if kernel_size is None:
        raise ValueError("conv_transpose2d_weight_grad: kernel_size is required")
    k = int(kernel_size)
    stride, padding = _check_params(stride, padding)
    expect = conv2d_out_hw(dy.shape[2:], k, stride, padding)
    if tuple(x.shape[2:]) != expect:
        raise ValueError(f"conv_transpose2d_weight_grad: x spatial shape {x.shape[2:]} does not "
                         f"match dy {dy.shape[2:]} for kernel {k}, stride {stride}, padding {padding}")
    return conv2d_weight_grad(dy, x, stride, padding, k)
