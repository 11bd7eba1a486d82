"""Host-side settings of the ROLIN units: shift registers from fraction bits.

The units implement :mod:`ganforge.golden.instnorm` with shift amounts that
the host computes once per layer from the tensors' fraction bits:

* :func:`fp_settings`: ``sh_a``, ``b_lshift`` (parameter unit), ``scale_frac``
  (normalise unit), for :func:`in_params` / :func:`in_apply`;
* :func:`ep_settings`: ``sh_c``, ``c2_extra`` (parameter unit), ``coef_frac``
  and ``xhat_base`` (statistics and normalise units), for :func:`in_xhat`,
  :func:`in_backward_params` and :func:`in_backward_apply`.

A value outside what the hardware registers hold raises ``ValueError``
naming it. :class:`InLayer` gathers what the engine needs of one IN layer
(sizes, ε, γ/β and both settings); :class:`~ganforge.firmware.runtime.host.EngineHost`
writes it to the registers with the codecs.
"""

from dataclasses import dataclass

from ganforge.golden.instnorm import RSQRT_Q

__all__ = ["fp_settings", "ep_settings", "InLayer", "in_layer"]


def _check(name, value, lo, hi):
    if not lo <= value <= hi:
        raise ValueError(f"ROLIN setting {name} = {value} is outside [{lo}, {hi}]")
    return value


def fp_settings(*, frac_x, frac_y, frac_gamma, scale_frac=16):
    """Registers of the forward pass (the fraction bits of x, y and γ)."""
    return {
        "sh_a": _check("sh_a", RSQRT_Q + frac_gamma - frac_y - scale_frac, -64, 63),
        "b_lshift": _check("b_lshift (frac_y + scale_frac - frac_gamma)",
                           frac_y + scale_frac - frac_gamma, 0, 63),
        "scale_frac": _check("scale_frac", scale_frac, 0, 63),
    }


def ep_settings(*, frac_x, frac_dy, frac_dx, frac_gamma, frac_xhat, coef_frac=16):
    """Registers of the backward pass."""
    return {
        "sh_c": _check("sh_c", RSQRT_Q + frac_gamma - frac_x - coef_frac - frac_dx + frac_dy, -64, 63),
        "c2_extra": _check("c2_extra (2*frac_xhat)", 2 * frac_xhat, 0, 63),
        "coef_frac": _check("coef_frac", coef_frac, 0, 63),
        "xhat_base": _check("xhat_base (RSQRT_Q - frac_xhat)", RSQRT_Q - frac_xhat, -64, 63),
    }


@dataclass(frozen=True)
class InLayer:
    """One IN layer as the engine sees it.

    ``count``: elements per map (H*W); ``channels``; ``eps_q``: ε in units of
    ``2**(-2 frac_x)``; ``gamma``, ``beta``: per channel, fixed point (``frac_gamma``
    and ``frac_y`` fraction bits); ``fp``, ``ep``: :func:`fp_settings` and
    :func:`ep_settings`.
    """
    count: int
    channels: int
    eps_q: int
    gamma: tuple
    beta: tuple
    fp: dict
    ep: dict


def in_layer(*, count, channels, eps_q, gamma, beta, frac_x, frac_y, frac_gamma, frac_dy, frac_dx,
             frac_xhat, scale_frac=16, coef_frac=16):
    """The :class:`InLayer` of an IN layer from its sizes, parameters and fraction bits."""
    if len(gamma) != channels or len(beta) != channels:
        raise ValueError(f"gamma and beta must have one entry per channel ({channels}), "
                         f"got {len(gamma)} and {len(beta)}")
    return InLayer(count=int(count), channels=int(channels), eps_q=int(eps_q),
                   gamma=tuple(int(g) for g in gamma), beta=tuple(int(b) for b in beta),
                   fp=fp_settings(frac_x=frac_x, frac_y=frac_y, frac_gamma=frac_gamma,
                                  scale_frac=scale_frac),
                   ep=ep_settings(frac_x=frac_x, frac_dy=frac_dy, frac_dx=frac_dx, frac_gamma=frac_gamma,
                                  frac_xhat=frac_xhat, coef_frac=coef_frac))
