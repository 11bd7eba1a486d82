"""The host runtime: sequencing of the accelerator over a small bus interface (read,
write, wait for the IRQ), the same code for cocotb, the Amaranth simulator and a board.
"""
