"""Buses and data movement: AXI4 / AXI4-Lite signatures (:mod:`.axi`), the AXI4-Lite
register bank (:mod:`.csr`), the AXI4 DMA (:mod:`.dma`), and the stream adapters between
the DMA's load/store paths and a core (:mod:`.ld_adapter`, :mod:`.st_adapter`).
"""
