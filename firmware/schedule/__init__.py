"""Schedulers of whole training steps over the accelerator's cores.

* :mod:`.device`: :class:`~.device.SystemDevice`, the accelerator as the golden
  training's device: every layer's FP, EP and WG runs as a program on the system.

The home of ASTM (spatio-temporal multiplexing of G and D) and SELRET (selective layer
retraining), each an open issue.
"""
