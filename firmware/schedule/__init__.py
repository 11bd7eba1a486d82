"""Schedulers of whole training steps over the accelerator's cores.

Not built yet: the home of ASTM (spatio-temporal multiplexing of G and D) and SELRET
(selective layer retraining), each an open issue.
"""
