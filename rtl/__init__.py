"""ganforge.rtl: the accelerator's Amaranth components (``wiring.Component`` blocks)."""
