"""Port integers of ``amaranth.lib.data`` layouts: how the firmware encodes what it sends.

Amaranth flattens a struct port into one vector; these functions turn nested
dicts and lists into that integer (:func:`pack`, :func:`packer`) and back
(:func:`unpack`). The simulators' drivers and, later, a board's host link send
these integers as they are.
"""

__all__ = ["pack", "packer", "unpack"]


def pack(layout, values):
    """Pack ``values`` (nested dicts/lists as ``layout.const`` takes them) into the port's integer."""
    return layout.const(values).as_bits()


def packer(layout):
    """A fast equivalent of ``pack(layout, values)``: a function from nested dicts / lists
    to the port's integer, built once from the layout's field offsets. Like
    ``layout.const`` it refuses a value that does not fit its field; missing fields are 0.
    """
    from amaranth.hdl import Shape
    from amaranth.lib import data
    if isinstance(layout, data.StructLayout):
        fields = [(name, f.offset, packer(f.shape)) for name, f in layout]

        def pack_struct(v):
            word = 0
            for name, offset, sub in fields:
                if name in v:
                    word |= sub(v[name]) << offset
            return word
        return pack_struct
    if isinstance(layout, data.ArrayLayout):
        elem = packer(layout.elem_shape)
        size = data.Layout.cast(layout).size // layout.length

        def pack_array(v):
            word = 0
            for n, e in enumerate(v):
                word |= elem(e) << (n * size)
            return word
        return pack_array
    shape = Shape.cast(layout)
    width = shape.width
    lo, hi = (-(1 << (width - 1)), (1 << (width - 1)) - 1) if shape.signed else (0, (1 << width) - 1)

    def pack_value(v):
        v = int(v)
        if not lo <= v <= hi:
            raise ValueError(f"{v} does not fit {shape!r}")
        return v & ((1 << width) - 1)
    return pack_value


def unpack(layout, word):
    """A view of the port's integer ``word``: fields by attribute or index, signed as declared."""
    return layout.from_bits(int(word))
