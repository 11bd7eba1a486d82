"""What the command processor sends the cluster: the payloads of the interconnect's inputs.

Each carries where it goes: a core mask (bit ``c``: core ``c``) for beats, geometries and
loaded data, a core index for a tile's store.
"""

from amaranth.hdl import unsigned
from amaranth.lib import data

__all__ = ["cmd_out_layout", "geom_out_layout", "load_cmd_layout", "store_cmd_layout",
           "core_index_bits"]


def core_index_bits(cores):
    return max(1, (cores - 1).bit_length())


def cmd_out_layout(cores, cmd_width):
    """A core command beat and the cores it goes to."""
    return data.StructLayout({"mask": unsigned(cores), "beat": unsigned(cmd_width)})


def geom_out_layout(cores, coord_bits):
    """A pass's input geometry and the cores (load adapters) it goes to."""
    return data.StructLayout({"mask": unsigned(cores), "cin": unsigned(coord_bits),
                              "in_h": unsigned(coord_bits), "in_w": unsigned(coord_bits)})


def load_cmd_layout(addr_width, tag_width, cores):
    """A DMA read command and the cores its data goes to (for reads the cores take)."""
    return data.StructLayout({"addr": unsigned(addr_width), "length": unsigned(addr_width),
                              "tag": unsigned(tag_width), "mask": unsigned(cores)})


def store_cmd_layout(addr_width, cores):
    """A DMA write command and the core whose tile it stores."""
    return data.StructLayout({"addr": unsigned(addr_width), "length": unsigned(addr_width),
                              "core": unsigned(core_index_bits(cores))})
