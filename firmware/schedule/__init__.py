"""Schedulers of whole training steps over the accelerator's cores.

* :mod:`.device`: :class:`~.device.SystemDevice`, the accelerator as the golden
  training's device: every layer's FP, EP and WG runs as a program on the system.
* :mod:`.selret`: selective layer retraining: which layers to retrain on a user's data,
  from one probe step's work counters and gradients (``make retrain-demo``).

The home of ASTM (spatio-temporal multiplexing of G and D), an open issue.
"""
