"""The command processor: fetches a program from external memory and runs it (core
descriptors, tile loads and stores, interconnect configuration, barriers, IRQ).

Not built yet: this is the home the system issue fills. Today the sequencing is
software, :mod:`ganforge.firmware.runtime`.
"""
