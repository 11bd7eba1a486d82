"""Top levels that put blocks together: :mod:`.accelerator` (one core behind the ROLIN
engine and its DMA).
"""
