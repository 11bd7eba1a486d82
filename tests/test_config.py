"""The accelerator configuration: presets, validation messages, acc_width rule."""

import dataclasses
import math

import pytest

from ganforge.config import (
    DEFAULT_PRESET, PRESETS, AcceleratorConfig, ConfigError, get_preset)
from ganforge.errors import UserError


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_validate(name):
    cfg = get_preset(name)
    cfg.validate()
    assert cfg.acc_width >= cfg.required_acc_width
    text = cfg.describe(name)
    assert name in text and len(text.splitlines()) > 3


def test_preset_shapes():
    tiny, small, large = (get_preset(n) for n in ("tiny", "small", "large"))
    assert (tiny.clusters, tiny.cores_per_cluster, tiny.lanes_per_core) == (1, 1, 4)
    assert (small.clusters, small.cores_per_cluster, small.lanes_per_core) == (1, 2, 16)
    assert (large.clusters, large.cores_per_cluster, large.lanes_per_core) == (4, 4, 32)
    assert DEFAULT_PRESET == "small" and AcceleratorConfig() == small
    assert large.peak_macs_per_cycle == 512
    # iCE40 UP5K: 8 DSPs and 30 x 4 Kibit block RAMs.
    assert tiny.peak_macs_per_cycle <= 8
    assert tiny.buffer_bits_per_core * tiny.total_cores <= 30 * 4096


def test_unknown_preset_names_the_valid_ones():
    with pytest.raises(ConfigError) as info:
        get_preset("nope")
    msg = str(info.value)
    assert "nope" in msg
    for name in PRESETS:
        assert name in msg


def test_config_error_is_a_user_error_and_value_error():
    assert issubclass(ConfigError, UserError)
    assert issubclass(ConfigError, ValueError)


def test_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        AcceleratorConfig().lanes_per_core = 8


# (parameter, an illegal value) for every parameter
INVALID = [
    ("clusters", 0), ("clusters", 17),
    ("cores_per_cluster", 0), ("cores_per_cluster", 17),
    ("lanes_per_core", 3), ("lanes_per_core", 0), ("lanes_per_core", 128),
    ("data_width", 12), ("data_width", 32),
    ("acc_width", 40), ("acc_width", 65),
    ("input_buffer_depth", 1000), ("input_buffer_depth", 8),
    ("weight_buffer_depth", 100), ("weight_buffer_depth", 1 << 17),
    ("output_buffer_depth", 0), ("output_buffer_depth", 3000),
    ("max_kernel", 0), ("max_kernel", 8),
    ("max_stride", 0), ("max_stride", 3),
    ("axi_data_width", 16), ("axi_data_width", 256),
    ("axi_addr_width", 16), ("axi_addr_width", 65),
    ("axi_max_burst", 0), ("axi_max_burst", 257),
    ("axi_max_outstanding_reads", 0), ("axi_max_outstanding_reads", 17),
    ("eors_acc_width", 4), ("eors_acc_width", 30), ("eors_acc_width", 49),
    ("eors_extra_mantissa_bits", -1), ("eors_extra_mantissa_bits", 5),
]


def test_every_parameter_has_an_invalid_case():
    fields = {f.name for f in dataclasses.fields(AcceleratorConfig)}
    assert fields == {name for name, _ in INVALID}


@pytest.mark.parametrize("name,value", INVALID)
def test_invalid_value_is_refused_naming_the_parameter(name, value):
    with pytest.raises(ConfigError) as info:
        AcceleratorConfig(**{name: value})
    msg = str(info.value)
    assert msg.startswith(name), msg
    assert str(value) in msg


@pytest.mark.parametrize("name", [f.name for f in dataclasses.fields(AcceleratorConfig)])
def test_non_integer_is_refused(name):
    for bad in ("16", 16.0, True):
        with pytest.raises(ConfigError, match=f"^{name} must be an integer"):
            AcceleratorConfig(**{name: bad})


def test_lanes_message():
    with pytest.raises(ConfigError) as info:
        AcceleratorConfig(lanes_per_core=3)
    assert str(info.value) == "lanes_per_core must be a power of two between 1 and 64, got 3"


def test_replace_revalidates():
    with pytest.raises(ConfigError, match="^data_width"):
        dataclasses.replace(AcceleratorConfig(), data_width=9)


def test_cross_parameter_checks():
    with pytest.raises(ConfigError, match="^max_stride"):
        AcceleratorConfig(max_kernel=1, max_stride=2)
    with pytest.raises(ConfigError, match="^weight_buffer_depth"):
        AcceleratorConfig(max_kernel=5, weight_buffer_depth=16)
    AcceleratorConfig(max_kernel=2, max_stride=2)
    AcceleratorConfig(max_kernel=4, weight_buffer_depth=16)


# --- acc_width: the accumulator never wraps ----------------------------------

def test_required_acc_width_formula():
    cfg = AcceleratorConfig()
    n = cfg.input_buffer_depth * cfg.max_kernel**2
    assert cfg.max_accumulated_products == n
    assert cfg.required_acc_width == 2 * cfg.data_width + math.ceil(math.log2(n))
    # small: 2048 * 25 = 51200 products -> 16 extra bits -> 48
    assert cfg.required_acc_width == 48


@pytest.mark.parametrize("data_width", [8, 16])
@pytest.mark.parametrize("depth", [16, 256, 2048])
@pytest.mark.parametrize("kernel", [1, 3, 4, 5])
def test_acc_width_boundary(data_width, depth, kernel):
    need = 2 * data_width + math.ceil(math.log2(depth * kernel**2))
    common = dict(data_width=data_width, input_buffer_depth=depth, max_kernel=kernel,
                  max_stride=1, eors_acc_width=2 * data_width - 1)
    cfg = AcceleratorConfig(acc_width=need, **common)
    assert cfg.required_acc_width == need
    with pytest.raises(ConfigError) as info:
        AcceleratorConfig(acc_width=need - 1, **common)
    msg = str(info.value)
    assert msg.startswith("acc_width") and str(need) in msg


def test_required_width_really_never_wraps():
    # The worst case: every product is (-2**(w-1))**2, summed max_accumulated_products times.
    for data_width in (8, 16):
        cfg = AcceleratorConfig(data_width=data_width, input_buffer_depth=16, max_kernel=3,
                                acc_width=2 * data_width + 8, eors_acc_width=2 * data_width - 1)
        worst = cfg.max_accumulated_products * (-(2 ** (data_width - 1))) ** 2
        assert worst <= 2 ** (cfg.required_acc_width - 1) - 1
        most_negative = cfg.max_accumulated_products * (-(2 ** (data_width - 1))) * (2 ** (data_width - 1) - 1)
        assert most_negative >= -(2 ** (cfg.required_acc_width - 1))


def test_largest_legal_buffers_fit_64_bit_accumulators():
    cfg = AcceleratorConfig(data_width=16, input_buffer_depth=65536, max_kernel=7, acc_width=54,
                            eors_acc_width=31)
    assert cfg.required_acc_width == 54
    with pytest.raises(ConfigError, match="^acc_width must be at least 54"):
        AcceleratorConfig(data_width=16, input_buffer_depth=65536, max_kernel=7, acc_width=53)
