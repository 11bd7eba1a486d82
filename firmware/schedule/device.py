"""The accelerator as the golden training's device: every layer's FP, EP and WG run as a
program on the system.

:class:`SystemDevice` is what :attr:`ganforge.golden.nn.ConvLayer.device` takes: the
golden training loop (:func:`ganforge.golden.train_dcgan`, ``device=``) calls
:meth:`SystemDevice.run` for each layer op, with the op, its tensors and its
parameters, the shift the golden model chose included. The device runs the op as one
program (:meth:`~ganforge.firmware.runtime.system.SystemHost.run_layer`) and returns
the accelerator's result, which the training then uses: what the golden model would
have computed is only compared, so a wrong result stops the run at the layer that made
it.

What stays on the host between programs (the training issue moves it on chip): the
per-tensor shifts (from the golden accumulators), the activation's backward (the ReLU
mask times the error), the bias gradients, the loss and its gradient, ``tanh`` and
Adam. :attr:`SystemDevice.log` records each program: layer, phase, op, counters and the
elements of each tensor it read and wrote (``elements``: the traffic's limit); the runtime's :class:`~ganforge.firmware.runtime.system.HostTraffic` counts
what the host moved.

The golden loop is ordinary (blocking) Python; the bus is asynchronous. ``call`` bridges
them: ``call(coroutine_function, *args)`` runs the coroutine to its end and returns its
result (cocotb: ``cocotb.task.resume``, with the loop run under ``cocotb.task.bridge``).
"""

import numpy as np

__all__ = ["SystemDevice", "DeviceMismatch"]


class DeviceMismatch(AssertionError):
    """The accelerator's result of a layer op differs from the golden model's."""


class SystemDevice:
    """Layer ops on a system through ``host`` (a
    :class:`~ganforge.firmware.runtime.system.SystemHost`).

    Parameters
    ----------
    host : SystemHost
    call : callable
        ``call(coroutine_function, *args, **kwargs)``: runs it, returns its result.
    cycles : int
        Cycle budget of each program (the wait for its interrupt).
    mode : str
        ``"multicast"`` or ``"unicast"``: how each layer's inputs reach the cores.
    progress : callable or None
        ``progress(entry)`` after each program (an entry of :attr:`log`).
    """

    def __init__(self, host, call, *, cycles=2_000_000, mode="multicast", progress=None):
        self.host, self.call, self.cycles, self.mode = host, call, cycles, mode
        self.progress = progress
        self.log = []

    def run(self, layer, phase, op, tensors, params, expect):
        result, counters = self.call(self.host.run_layer, op, tensors, params, expect.shape,
                                     mode=self.mode, cycles=self.cycles)
        sizes = {name: int(np.size(t)) for name, t in tensors.items()}
        entry = {"layer": layer.name, "phase": phase, "op": op, "counters": counters,
                 "elements": dict(sizes, out=int(expect.size))}
        self.log.append(entry)
        if self.progress is not None:
            self.progress(entry)
        if not np.array_equal(result, expect):
            bad = int(np.count_nonzero(result != expect))
            raise DeviceMismatch(f"{layer.name} {phase} ({op}): {bad} of {expect.size} outputs "
                                 f"differ from the golden model")
        return result
