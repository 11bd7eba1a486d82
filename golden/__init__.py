"""The NumPy golden model: bit-exact integer arithmetic of every operation the
hardware does, plus the float training reference.

Integer arrays in (NCHW), exact int64 out. The names exported here are the
public API that testbenches, the firmware and outside tools call.

* :mod:`.fixed` — quantisation, requantisation (round half up, saturate),
  activations, the ReLU mask, the output stage.
* :mod:`.conv` — convolution, zero-free transposed convolution and their exact
  adjoints (EP and WG).
* :mod:`.instnorm` — instance normalisation split the ROLIN way.
* :mod:`.eors` — exponent-only ReLU speculation: the rule, its effect on FP, its rates.
* :mod:`.work` — MAC counters: dense, effective, skipped by cause, zero-insertion.
* :mod:`.ops` — the six layer ops as one table, and what each must return and count.
* :mod:`.device_math` — the tanh/loss unit (tanh, σ, the loss gradients) and the
  vector reciprocal square root, in exact integers.
* :mod:`.scaling` — delayed per-tensor scaling from max/saturation monitors.
* :mod:`.device_optim` — Adam in fixed point on 32-bit master weights.
* :mod:`.nn`, :mod:`.train`, :mod:`.score`, :mod:`.data` — the reference GANs
  trained in this arithmetic, and the quality score.
"""

from .fixed import (ACTIVATIONS, shift_round, saturate, quantize, dequantize, requantize, relu,
                    leaky_relu, relu_mask, activate, activation_backward, output_stage)
from .conv import (conv2d, conv_transpose2d, conv_transpose2d_zero_insert, conv2d_input_grad,
                   conv2d_weight_grad, conv_transpose2d_input_grad, conv_transpose2d_weight_grad,
                   conv2d_out_hw, conv_transpose2d_out_hw, transpose_phases, exact_matmul)
from .instnorm import (in_stats, in_params, in_apply, in_xhat, in_backward_stats,
                       in_backward_params, in_backward_apply, in_param_grads, rsqrt_fixed,
                       eps_to_fixed, INParams, INBackwardCoefs)
from .eors import (eors_operand, eors_estimate, eors_predict, eors_apply, eors_fp, eors_counts,
                   eors_rates, EorsKnobs)
from .work import conv2d_work, conv_transpose2d_work, taps_per_output, weight_grad_work
from .ops import OPS, OpSpec, op_spec, reference_result, work_counts, audit_counts
from .device_math import (tanh_fixed, tanh_grad_fixed, sigmoid_fixed, logistic_loss_grad,
                          l1_loss_grad, rsqrt_vec)
from .scaling import ScaleState, Scaler

__all__ = [
    "ACTIVATIONS", "shift_round", "saturate", "quantize", "dequantize", "requantize", "relu",
    "leaky_relu", "relu_mask", "activate", "activation_backward", "output_stage",
    "conv2d", "conv_transpose2d", "conv_transpose2d_zero_insert", "conv2d_input_grad",
    "conv2d_weight_grad", "conv_transpose2d_input_grad", "conv_transpose2d_weight_grad",
    "conv2d_out_hw", "conv_transpose2d_out_hw", "transpose_phases", "exact_matmul",
    "in_stats", "in_params", "in_apply", "in_xhat", "in_backward_stats", "in_backward_params",
    "in_backward_apply", "in_param_grads", "rsqrt_fixed", "eps_to_fixed", "INParams",
    "INBackwardCoefs", "eors_operand", "eors_estimate", "eors_predict", "eors_apply", "eors_fp",
    "eors_counts", "eors_rates", "EorsKnobs",
    "conv2d_work", "conv_transpose2d_work", "weight_grad_work", "taps_per_output",
    "OPS", "OpSpec", "op_spec", "reference_result", "work_counts", "audit_counts",
    "tanh_fixed", "tanh_grad_fixed", "sigmoid_fixed", "logistic_loss_grad", "l1_loss_grad",
    "rsqrt_vec", "ScaleState", "Scaler",
]
