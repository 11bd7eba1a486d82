"""ganforge: a generator of GAN training accelerators in Amaranth HDL.

The CLI and the accelerator configuration live here; the golden model, the
RTL, the testbenches and the firmware are the subpackages ``ganforge.golden``,
``ganforge.rtl``, ``ganforge.testbench`` and ``ganforge.firmware``.
"""

__version__ = "0.1.0"
