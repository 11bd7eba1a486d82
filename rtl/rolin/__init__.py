"""ROLIN, reordered instance normalisation: the statistics unit on the store path
(:mod:`.stats`), the parameter unit (:mod:`.params`), the normalise unit on the load
path (:mod:`.norm`), their shared arithmetic (:mod:`.arith`) and the engine that puts
them around the DMA (:mod:`.engine`).
"""
