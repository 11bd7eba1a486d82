"""Clusters of sparse cores and the reconfigurable interconnect between the DMA's
load/store paths and the cores (groups, multicast, unicast, store arbitration).

Not built yet: this is the home the system issue fills. Today a top level holds
one core (:mod:`ganforge.rtl.top.accelerator`).
"""
