"""ganforge.firmware: the compiler from a GAN model to command streams, the schedulers (ASTM, SELRET) and the host runtime."""
