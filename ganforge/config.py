"""The accelerator configuration: one frozen dataclass that parameterises
every block, plus named presets.

An invalid configuration is refused when it is built (``__post_init__`` calls
:meth:`AcceleratorConfig.validate`) with a :class:`ConfigError` whose message
names the offending parameter.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from ganforge.errors import UserError

__all__ = ["AcceleratorConfig", "ConfigError", "PRESETS", "DEFAULT_PRESET", "get_preset", "core_from_config",
           "eors_unit_from_config", "engine_from_config", "accelerator_from_config",
           "system_from_config"]


class ConfigError(UserError, ValueError):
    """An invalid accelerator configuration; the message names the parameter."""


def _is_pow2(value: int) -> bool:
    return value > 0 and value & (value - 1) == 0


@dataclass(frozen=True)
class AcceleratorConfig:
    """Parameters of one generated accelerator.

    Compute array
        clusters
            Number of core clusters behind the cluster interconnect.
            Integer, 1 to 16.
        cores_per_cluster
            Cores in each cluster (ASTM splits cores between generator and
            discriminator work). Integer, 1 to 16.
        lanes_per_core
            PE lanes (multiply-accumulate units) per core; peak MACs per cycle
            is ``clusters * cores_per_cluster * lanes_per_core``.
            Power of two, 1 to 64.

    Arithmetic
        data_width
            Bits of every signed fixed-point value (activations, weights,
            gradients). 8 or 16.
        acc_width
            Bits of the exact accumulators. The accumulator must never wrap,
            so it must hold the worst-case sum of
            ``max_accumulated_products = input_buffer_depth * max_kernel**2``
            products of two signed ``data_width``-bit values:
            ``acc_width >= 2 * data_width + ceil(log2(max_accumulated_products))``
            (see :attr:`required_acc_width`; the legal ranges of the other
            parameters keep this at most 54). At most 64.

    On-chip tile buffers (depths in words)
        input_buffer_depth
            Input-activation (or error) tile buffer of a core. Power of two,
            16 to 65536.
        weight_buffer_depth
            Words of each of the two operand banks of a lane of the sparse
            core: a bank holds the ``C_in·K²`` weights of one output channel
            (FP/EP) or one pitched ``H×2**ceil(log2 W)`` error map (WG). While
            a pass reads one bank, the next pass's operands load into the
            other. Power of two, 16 to 65536; at least ``max_kernel**2`` so one
            full kernel fits.
        output_buffer_depth
            Words of each of the three accumulator banks of a lane (one tile
            accumulates while another drains): one pitched output map
            ``H_out×2**ceil(log2 W_out)`` (FP/EP) or ``C_in·K²`` weight
            gradients (WG); each of the lane's three pass contexts has a mask
            of as many bits. Power of two, 16 to 65536.

    Convolution geometry
        max_kernel
            Largest kernel size K (K x K) the access engines support.
            Integer, 1 to 7.
        max_stride
            Largest stride (conv) or upsampling factor (transposed conv,
            computed as ``stride**2`` zero-free phase sub-convolutions).
            1 or 2 (the core runs strides 1 and 2), and at most ``max_kernel``.

    External memory (AXI4 master of the DMA)
        axi_data_width
            AXI data-bus width in bits. 32, 64 or 128.
        axi_addr_width
            AXI address width in bits. Integer, 32 to 64.
        axi_max_burst
            Longest INCR burst the DMA issues, in beats. Integer, 1 to 256
            (the AXI4 limit; the DMA also splits bursts at 4 KiB boundaries).
        axi_max_outstanding_reads
            Read bursts the DMA keeps in flight. Integer, 1 to 16.

    EORS (exponent-only ReLU speculation)
        eors_acc_width
            Bits of the speculation unit's accumulator, which sums the
            sign/exponent approximations of the products (the golden model
            defines this arithmetic bit for bit). Integer, ``2 * data_width - 1``
            (what the RTL unit, ``rtl/eors/unit.py``, needs) to ``acc_width``, at
            most 63.
            The presets take 36: the trained DCGAN's ReLU layers have estimates
            of up to 33 bits.
        eors_extra_mantissa_bits
            Mantissa bits kept next to the exponent in the speculation pass;
            0 is pure exponent-only speculation. Integer, 0 to 4.

    The defaults are the ``small`` preset.
    """

    clusters: int = 1
    cores_per_cluster: int = 2
    lanes_per_core: int = 16
    data_width: int = 16
    acc_width: int = 48
    input_buffer_depth: int = 2048
    weight_buffer_depth: int = 1024
    output_buffer_depth: int = 256
    max_kernel: int = 5
    max_stride: int = 2
    axi_data_width: int = 64
    axi_addr_width: int = 32
    axi_max_burst: int = 16
    axi_max_outstanding_reads: int = 4
    eors_acc_width: int = 36
    eors_extra_mantissa_bits: int = 2

    def __post_init__(self) -> None:
        self.validate()

    # --- derived quantities -------------------------------------------------

    @property
    def total_cores(self) -> int:
        """Cores in the whole device."""
        return self.clusters * self.cores_per_cluster

    @property
    def peak_macs_per_cycle(self) -> int:
        """PE lanes in the whole device: the peak MACs per cycle."""
        return self.total_cores * self.lanes_per_core

    @property
    def max_accumulated_products(self) -> int:
        """Worst-case number of products summed into one accumulator."""
        return self.input_buffer_depth * self.max_kernel**2

    @property
    def required_acc_width(self) -> int:
        """Smallest ``acc_width`` that can never wrap for this configuration."""
        return 2 * self.data_width + math.ceil(math.log2(self.max_accumulated_products))

    @property
    def axi_bytes_per_beat(self) -> int:
        return self.axi_data_width // 8

    # --- validation ---------------------------------------------------------

    def validate(self) -> None:
        """Raise :class:`ConfigError`, naming the parameter, if anything is illegal."""
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ConfigError(f"{field.name} must be an integer, got {value!r}")

        def in_range(name: str, lo: int, hi: int) -> None:
            value = getattr(self, name)
            if not lo <= value <= hi:
                raise ConfigError(f"{name} must be between {lo} and {hi}, got {value}")

        def pow2_in_range(name: str, lo: int, hi: int) -> None:
            value = getattr(self, name)
            if not (_is_pow2(value) and lo <= value <= hi):
                raise ConfigError(
                    f"{name} must be a power of two between {lo} and {hi}, got {value}")

        def one_of(name: str, choices: tuple[int, ...]) -> None:
            value = getattr(self, name)
            if value not in choices:
                allowed = ", ".join(map(str, choices[:-1])) + f" or {choices[-1]}"
                raise ConfigError(f"{name} must be {allowed}, got {value}")

        in_range("clusters", 1, 16)
        in_range("cores_per_cluster", 1, 16)
        pow2_in_range("lanes_per_core", 1, 64)
        one_of("data_width", (8, 16))
        for name in ("input_buffer_depth", "weight_buffer_depth", "output_buffer_depth"):
            pow2_in_range(name, 16, 65536)
        in_range("max_kernel", 1, 7)
        in_range("max_stride", 1, 2)
        one_of("axi_data_width", (32, 64, 128))
        in_range("axi_addr_width", 32, 64)
        in_range("axi_max_burst", 1, 256)
        in_range("axi_max_outstanding_reads", 1, 16)
        in_range("eors_extra_mantissa_bits", 0, 4)

        need = self.required_acc_width
        if self.acc_width > 64:
            raise ConfigError(f"acc_width must be between {need} and 64, got {self.acc_width}")
        if self.acc_width < need:
            raise ConfigError(
                f"acc_width must be at least {need} so that the accumulator "
                f"never wraps: 2*data_width + ceil(log2(input_buffer_depth * max_kernel**2)) "
                f"= 2*{self.data_width} + ceil(log2({self.max_accumulated_products})) = {need}, "
                f"got {self.acc_width}")
        # the speculation unit sums signed 2*data_width-1 bit approximations: at most 63 bits
        in_range("eors_acc_width", 2 * self.data_width - 1, min(63, self.acc_width))

        if self.max_stride > self.max_kernel:
            raise ConfigError(
                f"max_stride must be at most max_kernel ({self.max_kernel}), got {self.max_stride}")
        if self.weight_buffer_depth < self.max_kernel**2:
            raise ConfigError(
                f"weight_buffer_depth must hold one max_kernel x max_kernel kernel "
                f"({self.max_kernel**2} words), got {self.weight_buffer_depth}")

    # --- presentation -------------------------------------------------------

    def describe(self, name: str | None = None) -> str:
        """A multi-line human-readable summary."""
        title = f"accelerator configuration '{name}'" if name else "accelerator configuration"
        w = self.data_width
        lines = [
            title,
            f"  compute      {self.clusters} cluster(s) x {self.cores_per_cluster} core(s) "
            f"x {self.lanes_per_core} lanes = {self.peak_macs_per_cycle} MACs/cycle peak",
            f"  arithmetic   {w}-bit signed fixed point, {self.acc_width}-bit accumulators "
            f"(never wrap: needs {self.required_acc_width})",
            f"  buffers      input {self.input_buffer_depth} words per core; weight "
            f"{self.weight_buffer_depth} and accumulator {self.output_buffer_depth} words per lane "
            f"({self.buffer_bits_per_core // 8192} KiB per core)",
            f"  convolution  kernel up to {self.max_kernel}x{self.max_kernel}, "
            f"stride up to {self.max_stride}",
            f"  AXI4 master  {self.axi_data_width}-bit data, {self.axi_addr_width}-bit address, "
            f"bursts up to {self.axi_max_burst} beats, "
            f"{self.axi_max_outstanding_reads} outstanding read(s)",
            f"  EORS         {self.eors_acc_width}-bit speculation accumulator, "
            f"{self.eors_extra_mantissa_bits} extra mantissa bit(s)",
        ]
        return "\n".join(lines)

    @property
    def buffer_bits_per_core(self) -> int:
        """Tile-buffer storage of one core, in bits: the input buffer, and each lane's two
        operand banks and three accumulator banks (``acc_width`` bits a word)."""
        lane = 2 * self.weight_buffer_depth * self.data_width + \
            3 * self.output_buffer_depth * self.acc_width
        return self.input_buffer_depth * self.data_width + self.lanes_per_core * lane


PRESETS: dict[str, AcceleratorConfig] = {
    # The smallest preset: 4 lanes, maps up to 8x8. Its core synthesises to about 19.5k LUT,
    # 20-30 DSP and 28 (ECP5) to 52 (iCE40) block RAMs: an ECP5 45F holds it, an iCE40 UP5K
    # does not. `make area CONFIG=tiny` prints the numbers.
    "tiny": AcceleratorConfig(
        clusters=1, cores_per_cluster=1, lanes_per_core=4,
        data_width=16, acc_width=48,
        input_buffer_depth=512, weight_buffer_depth=128, output_buffer_depth=64,
        max_kernel=5, max_stride=2,
        axi_data_width=32, axi_addr_width=32, axi_max_burst=16, axi_max_outstanding_reads=2,
        eors_acc_width=36, eors_extra_mantissa_bits=2,
    ),
    "small": AcceleratorConfig(),
    "large": AcceleratorConfig(
        clusters=4, cores_per_cluster=4, lanes_per_core=32,
        data_width=16, acc_width=56,
        input_buffer_depth=4096, weight_buffer_depth=4096, output_buffer_depth=2048,
        max_kernel=5, max_stride=2,
        axi_data_width=128, axi_addr_width=32, axi_max_burst=32, axi_max_outstanding_reads=8,
        eors_acc_width=36, eors_extra_mantissa_bits=2,
    ),
}

DEFAULT_PRESET = "small"


def get_preset(name: str) -> AcceleratorConfig:
    """The preset called ``name``; :class:`ConfigError` lists the valid ones otherwise."""
    try:
        return PRESETS[name]
    except KeyError:
        valid = ", ".join(PRESETS)
        raise ConfigError(f"unknown configuration preset {name!r} (valid presets: {valid})") from None


def core_from_config(config):
    """Keyword arguments of the SparseCore of an :class:`~ganforge.config.AcceleratorConfig`."""
    return dict(lanes=config.lanes_per_core, data_width=config.data_width,
                acc_width=config.acc_width, max_kernel=config.max_kernel,
                max_stride=config.max_stride, weight_depth=config.weight_buffer_depth,
                out_depth=config.output_buffer_depth)


def eors_unit_from_config(config, lanes=None):
    """Keyword arguments of the EorsUnit beside the core of ``config``: the core's buffers,
    the speculation accumulator and mantissa bits of the configuration, and the core's lane
    count unless ``lanes`` is given."""
    kw = core_from_config(config)
    kw.update(acc_width=config.eors_acc_width, mantissa_bits=config.eors_extra_mantissa_bits)
    if lanes is not None:
        kw["lanes"] = int(lanes)
    return kw


def engine_from_config(config):
    """Keyword arguments of the :class:`~ganforge.rtl.rolin.engine.RolinEngine` of ``config``.

    The DMA is the configuration's AXI4 master. The configuration has no field for the ROLIN
    tables, so they follow from the core: an IN layer's channels are the next convolution's
    input channels, whose ``C_in·K²`` weights fit one lane bank, so ``max_channels`` (γ/β
    entries) is ``weight_buffer_depth``; ``table_depth`` ((sample, channel) entries) is the
    engine's default 1024, and at least one sample of the widest layer. Each read FIFO
    (``fifo_depth``) holds 64 beats, and at least one burst.
    """
    max_channels = min(config.weight_buffer_depth, 65536)
    return dict(data_width=config.data_width, axi_data_width=config.axi_data_width,
                axi_addr_width=config.axi_addr_width, axi_max_burst=config.axi_max_burst,
                axi_max_outstanding_reads=config.axi_max_outstanding_reads,
                fifo_depth=max(64, 1 << (config.axi_max_burst - 1).bit_length()),
                table_depth=max(1024, max_channels), max_channels=max_channels)


def accelerator_from_config(config):
    """Keyword arguments of the :class:`~ganforge.rtl.top.accelerator.Accelerator` of
    ``config``: its core (:func:`~ganforge.config.core_from_config`), its engine
    (:func:`engine_from_config`), and tiles of up to ``output_buffer_depth`` positions
    (an output map fills at most one accumulator bank)."""
    return dict(core=core_from_config(config), engine=engine_from_config(config),
                max_positions=config.output_buffer_depth)


def system_from_config(config):
    """Keyword arguments of the :class:`~ganforge.rtl.top.system.System` of ``config``:
    ``clusters × cores_per_cluster`` cores (:func:`core_from_config`) in one interconnect,
    its engine (:func:`engine_from_config`), store tiles of up to ``output_buffer_depth``
    positions, and the command processor's bursts as long as the DMA's."""
    return dict(cores=config.total_cores, core=core_from_config(config),
                engine=engine_from_config(config), max_positions=config.output_buffer_depth,
                max_burst=config.axi_max_burst)
