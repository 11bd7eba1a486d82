"""Bad input: the catalogue of ``make bad-inputs`` case by case, and random op files.

Every case of :data:`ganforge.bench.bad_inputs.CASES` must be refused in one line that
names what was wrong: no hang, no traceback, no silent run, nothing built. Random op
files (random bytes, random keys and values, hypothesis) may only ever raise
``UserError`` from :func:`~ganforge.simop.load_op` and
:func:`~ganforge.simop.prepare_op`, everything before a simulation.
"""

import io
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from ganforge.bench.bad_inputs import CASES, run_case
from ganforge.config import get_preset
from ganforge.errors import UserError
from ganforge.simop import OP_KEYS, load_op, prepare_op


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_refused_in_one_line(case):
    result = run_case(case, timeout=60)
    assert result["outcome"] == "refused", result


# --- random op files ---------------------------------------------------------------------

KEYS = ("op", "x", "w", "dy", "stride", "padding", "output_padding", "shift", "slope_shift",
        "activation", "kernel_size", "input_hw", "bias", "out_mask")
TINY = get_preset("tiny")


def small_arrays():
    dtypes = st.sampled_from([np.int8, np.int16, np.int64, np.uint8, np.float64, np.bool_])
    shapes = st.lists(st.integers(0, 4), min_size=0, max_size=4).map(tuple)
    return st.builds(lambda d, s, seed: np.random.default_rng(seed).integers(-40, 40, s).astype(d),
                     dtypes, shapes, st.integers(0, 2 ** 16))


VALUES = st.one_of(
    st.integers(-2 ** 40, 2 ** 40), st.floats(allow_nan=True), st.text(max_size=8),
    st.sampled_from(list(OP_KEYS) + ["identity", "relu", "leaky_relu"]), small_arrays())


def plausible_op():
    """Mostly well-formed convolutions with one or two fields drawn at random."""
    def build(op, cin, cout, hw, k, extra):
        rng = np.random.default_rng(cin * 31 + hw)
        d = {"op": op}
        for key in OP_KEYS[op]:
            d[key] = rng.integers(-30, 30, (1, cout if key == "dy" else cin, hw, hw))
        if "w" in d:
            d["w"] = rng.integers(-30, 30, (cout, cin, k, k) if op.startswith("conv_t") is False
                                  else (cin, cout, k, k))
        if op.endswith("weight_grad"):
            d["kernel_size"] = k
        d.update(extra)
        return d
    return st.builds(build, st.sampled_from(list(OP_KEYS)), st.integers(1, 4), st.integers(1, 4),
                     st.integers(1, 10), st.integers(0, 8),
                     st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=2))


def write(path, arrays):
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def before_simulation(path):
    """What sim-op does with a file before it simulates; only UserError may escape."""
    try:
        op, tensors, params = load_op(str(path))
        prepare_op(op, tensors, params, TINY)
    except UserError:
        pass


FUZZ = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(st.binary(max_size=300))
def test_random_bytes_are_refused(tmp_path, raw):
    path = tmp_path / "in.npz"
    path.write_bytes(raw)
    with pytest.raises(UserError):
        load_op(str(path))


@FUZZ
@given(st.binary(max_size=200))
def test_a_zip_of_random_members_is_refused(tmp_path, raw):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("op.npy", raw)
        z.writestr("x.npy", raw[::-1])
    path = tmp_path / "in.npz"
    path.write_bytes(buf.getvalue())
    with pytest.raises(UserError):
        load_op(str(path))


@FUZZ
@given(st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(min_size=1, max_size=6).filter(
    lambda k: k.isidentifier())), VALUES, max_size=6))
def test_random_keys_and_values_never_give_a_traceback(tmp_path, arrays):
    path = tmp_path / "in.npz"
    write(path, arrays)
    before_simulation(path)


@FUZZ
@given(plausible_op())
def test_nearly_good_ops_never_give_a_traceback(tmp_path, arrays):
    path = tmp_path / "in.npz"
    write(path, arrays)
    before_simulation(path)
