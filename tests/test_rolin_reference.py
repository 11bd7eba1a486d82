"""The ROLIN reference (golden IN blocks of the i2i generator) reproduces the saved workload."""

import pytest

from ganforge.firmware.rolin import ep_settings, fp_settings
from ganforge.testbench.rolin_ref import IN_BLOCKS, check_against_workload, in_block


@pytest.mark.parametrize("name", [b[1] for b in IN_BLOCKS])
def test_in_block_reproduces_workload(name):
    """Forward output = the next conv's saved input; dx (with in_backward_frac_dx's
    fraction bits) = the producing conv's saved error, exactly."""
    check_against_workload(name)
    b = in_block(name)
    assert b["mask"].any() and not b["mask"].all()


def test_settings_refuse_out_of_range_values():
    with pytest.raises(ValueError, match="b_lshift"):
        fp_settings(frac_x=14, frac_y=0, frac_gamma=40, scale_frac=16)
    with pytest.raises(ValueError, match="sh_c"):
        ep_settings(frac_x=-60, frac_dy=30, frac_dx=0, frac_gamma=12, frac_xhat=10)
