"""The host runtime: sequencing of the accelerator over a small bus interface (read,
write, wait for the IRQ), the same code for cocotb, the Amaranth simulator and a board.

* :mod:`.bus`: :class:`~.bus.Bus`, what the runtime needs of a platform;
* :mod:`.host`: :class:`~.host.EngineHost` (the ROLIN engine) and
  :class:`~.host.AcceleratorHost` (a layer on the accelerator), and
  :class:`~.host.Regions` (tensors in external memory).
"""
