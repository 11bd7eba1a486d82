"""One layer op on the simulated RTL: the library behind ``ganforge sim-op`` (whose
command line is in :mod:`ganforge.commands`) and the benches.

:func:`load_op` reads and checks an op file, :func:`simulate_op` runs an op on the
simulated core and :func:`simulate_eors_op` a ReLU layer's FP with EORS; each returns
the dict that ``OUT.npz`` holds.

``sim-op IN.npz -o OUT.npz`` reads an op and its tensors, compiles the op
into passes of the sparse core with :func:`ganforge.firmware.compiler.compile_op`,
runs it on the generated Verilog under cocotb, checks the result against
the golden model, and writes ``OUT.npz``.

The driver tiles layers larger than the lane buffers on the host: output
channels and samples are spread over lane groups, input channels are split
into reductions that the core accumulates across passes, and weight
gradients are split over samples.

``IN.npz`` keys:

==================== =========================================================
``op``               conv, conv_input_grad, conv_weight_grad, conv_transpose,
                     conv_transpose_input_grad, conv_transpose_weight_grad
tensors              as the golden API names them: ``x``, ``w`` (conv,
                     conv_transpose); ``dy``, ``w`` (input grads); ``x``,
                     ``dy`` (weight grads)
``stride padding``   (default 1, 0); ``output_padding`` (conv_transpose)
``kernel_size``      weight grads (required)
``input_hw``         conv_input_grad (default: the smallest input)
``shift``            output-stage requantisation shift (default 0)
``activation``       identity | relu | leaky_relu (default identity); ``slope_shift``
``bias``             optional, per output channel, in accumulator units (FP/EP ops)
``out_mask``         optional bool output mask (FP/EP ops): masked outputs are 0
                     and never computed
==================== =========================================================

``OUT.npz`` keys: ``result``, the golden op followed by the output stage and
the mask, as :func:`~ganforge.golden.reference_result` defines
it. ``relu_mask`` is the ReLU mask the core wrote. ``cycles`` counts from
reset to the last output, loads included. The core's counters appear by
name: ``macs_issued``, ``dense_macs``, ``output_mask_skipped``,
``input_zero_skipped``, ``zero_insertion_skipped``, ``cycles_busy``,
``cycles_stalled``, ``cycles_idle``, ``false_zero``, ``missed_zero`` (only
audited passes count them) and ``error``. Each MAC counter has its
golden work count beside it (``golden_dense_macs``, ...; the core's must
equal them), then ``effective_macs`` (what a perfect dual-sparsity machine
issues), ``ideal_cycles = effective_macs / lanes``, ``lanes`` and
``matches_golden``.

``sim-op --eors`` (conv or conv_transpose with activation relu; no ``out_mask``)
runs a ReLU layer's FP with EORS: the speculation unit
(:class:`~ganforge.rtl.eors.EorsUnit`, the configuration's
``eors_extra_mantissa_bits`` and ``eors_acc_width``, overridden by
``--eors-mantissa-bits`` and ``--eors-acc-width``; ``--eors-margin`` in
accumulator units), then the core with the predicted zeros masked, then the
core without EORS. ``OUT.npz`` then holds ``result`` and ``relu_mask`` (the
layer with EORS, as ``golden.eors_fp``), ``predicted_zero``, ``cycles`` (the
core with EORS), ``cycles_no_eors``, ``eors_cycles`` (the unit), ``eors_macs``
(speculation products), ``eors_error``, ``cycles_sequential`` (unit + core,
measured), ``cycles_overlapped_computed`` (the longer of the two: computed, not
simulated), the knobs (``eors_mantissa_bits``, ``eors_margin``,
``eors_acc_width``, ``eors_lanes``), the counts ``eors_outputs``,
``eors_true_zero``, ``eors_predicted_zero``, ``eors_false_zero``,
``eors_missed_zero``, ``eors_caught_zero`` (false and missed zeros counted on
the host against the golden model), ``prediction_matches_golden``, the core's
counters and golden work counts of the masked pass, and ``matches_golden``
(prediction, result and the run without EORS all bit-exact).

``--eors-pipelined`` adds a run of the unit and the core overlapped in one
simulation (:class:`~ganforge.rtl.eors.pipeline.EorsPipeline`, one sample per
tile): ``cycles_pipelined``, ``pipeline_core_start`` (the cycle each tile of
the core started), ``pipeline_unit_cycles_busy`` and
``pipelined_matches_golden``.

``--eors-audit`` adds an audited run of the core (every tap computed, the
prediction applied at the drain) whose hardware counters count the
mispredictions: ``audit_false_zero``, ``audit_missed_zero`` (they must equal
``eors_false_zero`` and ``eors_missed_zero``), ``audit_cycles``,
``audit_error`` and ``audit_matches_golden``.
"""

import zipfile

import numpy as np

from ganforge.errors import UserError

__all__ = ["load_op", "prepare_op", "simulate_op", "simulate_eors_op", "eors_overlapped_cycles", "OP_KEYS"]

OP_KEYS = {
    "conv": ("x", "w"), "conv_transpose": ("x", "w"),
    "conv_input_grad": ("dy", "w"), "conv_transpose_input_grad": ("dy", "w"),
    "conv_weight_grad": ("x", "dy"), "conv_transpose_weight_grad": ("x", "dy"),
}
#: Integer scalars of an op file: (default, least value).
_SCALARS = {"stride": (1, 1), "padding": (0, 0), "output_padding": (0, 0), "shift": (0, 0),
            "slope_shift": (2, 0)}
ACTIVATIONS = ("identity", "relu", "leaky_relu")


def _what(v):
    """How a value read from an op file is named in a refusal."""
    if v.ndim:
        return f"an array of shape {v.shape}"
    return f"{v.item()!r} ({v.dtype})"


def _read(path, z, key):
    """``z[key]``, with a refusal for what numpy cannot read safely (object arrays, a member
    that is not an array, a damaged member)."""
    try:
        v = z[key]
    except (ValueError, EOFError, OSError, zipfile.BadZipFile) as exc:
        raise UserError(f"{path}: {key} cannot be read ({exc})") from None
    if not isinstance(v, np.ndarray):
        raise UserError(f"{path}: {key} is not an array")
    return v


def _integer(path, z, key, default, lo=None):
    """Scalar ``key`` of the op file as an int (``default`` when absent): an integer, never a
    float truncated, a string or an array; at least ``lo``."""
    if key not in z.files:
        return default
    v = _read(path, z, key)
    if v.ndim != 0 or v.dtype == bool or not np.issubdtype(v.dtype, np.integer):
        raise UserError(f"{path}: {key} must be an integer, got {_what(v)}")
    if lo is not None and int(v) < lo:
        raise UserError(f"{path}: {key} must be at least {lo}, got {int(v)}")
    return int(v)


def load_op(path):
    """Read and check an op file: ``(op, tensors, params)``; UserError on bad input.

    Scalars must be integers (a float is refused, never truncated); tensors 4-D integer
    arrays in the 16-bit range; ``bias`` integers, one per output channel;
    ``out_mask`` booleans. The limits of the configuration are checked when the op is
    compiled (:func:`~ganforge.firmware.compiler.check_program`)."""
    try:
        z = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UserError(f"{path}: a folder, not an .npz file") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise UserError(f"{path}: not a readable .npz file ({exc})") from None
    if not isinstance(z, np.lib.npyio.NpzFile):
        raise UserError(f"{path}: an .npy array, not an .npz file of named arrays")
    with z:
        if "op" not in z.files:
            raise UserError(f"{path}: missing key 'op'")
        v = _read(path, z, "op")
        op = str(v) if v.ndim == 0 and v.dtype.kind == "U" else None
        if op not in OP_KEYS:
            raise UserError(f"{path}: unknown op {v.item() if v.ndim == 0 else _what(v)!r} "
                            f"(expected one of {', '.join(OP_KEYS)})")
        tensors = {}
        for key in OP_KEYS[op]:
            if key not in z.files:
                raise UserError(f"{path}: op {op} needs key {key!r}")
            t = _read(path, z, key)
            if t.ndim != 4 or t.dtype == bool or not np.issubdtype(t.dtype, np.integer):
                raise UserError(f"{path}: {key} must be a 4-D integer array, got {t.dtype} {t.shape}")
            if t.size and (t.min() < -32768 or t.max() > 32767):
                raise UserError(f"{path}: {key} has values outside the 16-bit range")
            tensors[key] = t.astype(np.int64)
        params = {key: _integer(path, z, key, default, lo)
                  for key, (default, lo) in _SCALARS.items()}
        if "activation" in z.files:
            v = _read(path, z, "activation")
            if v.ndim != 0 or v.dtype.kind != "U" or str(v) not in ACTIVATIONS:
                raise UserError(f"{path}: activation must be one of {', '.join(ACTIVATIONS)}, "
                                f"got {_what(v)}")
            params["activation"] = str(v)
        else:
            params["activation"] = "identity"
        if op.endswith("weight_grad"):
            if "kernel_size" not in z.files:
                raise UserError(f"{path}: op {op} needs key 'kernel_size'")
            params["kernel_size"] = _integer(path, z, "kernel_size", None, 1)
        if op == "conv_input_grad" and "input_hw" in z.files:
            v = _read(path, z, "input_hw")
            if v.shape != (2,) or not np.issubdtype(v.dtype, np.integer) or v.dtype == bool:
                raise UserError(f"{path}: input_hw must be two integers, got {_what(v)}")
            params["input_hw"] = tuple(int(x) for x in v)
        for key in ("bias", "out_mask"):
            if key in z.files:
                if op.endswith("weight_grad"):
                    raise UserError(f"{path}: {key} does not apply to {op}")
                v = _read(path, z, key)
                if key == "bias" and (v.ndim != 1 or v.dtype == bool
                                      or not np.issubdtype(v.dtype, np.integer)):
                    raise UserError(f"{path}: bias must be a 1-D integer array (accumulator "
                                    f"units, one per output channel), got {v.dtype} {v.shape}")
                if key == "out_mask" and v.dtype != bool:
                    raise UserError(f"{path}: out_mask must be a boolean array, got {v.dtype}")
                params[key] = v.astype(np.int64) if key == "bias" else v
    if op != "conv_transpose":
        params.pop("output_padding")
    return op, tensors, params


def _reference(op, tensors, params):
    from ganforge.golden import reference_result
    try:
        return reference_result(op, tensors, **params)
    except (ValueError, TypeError) as exc:
        raise UserError(f"{op}: {exc}")


def _work(op, tensors, params, lanes):
    """Golden work counts beside the core's counters: ``golden_<counter>`` for each of the
    core's MAC counters, ``effective_macs`` and ``ideal_cycles``."""
    from ganforge.golden import work_counts
    wk = work_counts(op, tensors, **params)
    out = {f"golden_{k}": v for k, v in wk.items() if k != "effective_macs"}
    out.update(effective_macs=wk["effective_macs"], ideal_cycles=wk["effective_macs"] / lanes)
    return out


def prepare_op(op, tensors, params, config, *, dense=False):
    """Everything before the simulation: ``(core, program, (result, relu_mask))``: the
    core's keyword arguments, the op compiled and checked against the core's limits
    (:func:`~ganforge.firmware.compiler.check_program`), and the golden result. Anything
    :func:`load_op` accepts that the core cannot run is a ``UserError`` here."""
    from ganforge.firmware.compiler import check_program, compile_op
    from ganforge.config import core_from_config
    core = core_from_config(config)
    try:
        prog = compile_op(op, tensors, lanes=core["lanes"], weight_depth=core["weight_depth"],
                          out_depth=core["out_depth"], dense=dense, **params)
        check_program(prog, core, bias=params.get("bias"))
    except ValueError as exc:
        raise UserError(f"{op}: {exc}") from None
    return core, prog, _reference(op, tensors, params)


def simulate_op(op, tensors, params, config, *, sim="verilator", dense=False, vcd=None,
                throttle=False, build_root="build/sim"):
    """Run one op on the simulated core: a dict of everything OUT.npz holds."""
    from ganforge.testbench import simulate_program as simulate
    core, prog, (want_y, want_m) = prepare_op(op, tensors, params, config, dense=dense)
    drained, counters, cycles = simulate(prog, core, sim=sim, throttle=throttle, waves=vcd,
                                         build_root=build_root, quiet=True)
    y, m = prog.assemble(drained)
    out = {"result": y, "relu_mask": m, "cycles": cycles, "lanes": core["lanes"],
           "matches_golden": bool(np.array_equal(y, want_y) and np.array_equal(m, want_m))}
    out.update({k: v for k, v in counters.items() if k != "error"})
    out["error"] = counters["error"]
    out.update(_work(op, tensors, params, core["lanes"]))
    return out


def simulate_eors_op(op, tensors, params, config, *, margin, sim="verilator", throttle=False,
                     baseline=True, audit=False, natural=False, pipelined=False,
                     pipeline_tile=None, build_root="build/sim", seed=0, eors_lanes=None,
                     pipeline_resets=()):
    """A ReLU layer's FP with EORS on the simulated RTL: the speculation unit's passes, then
    the core's passes with the predicted zeros masked out (and, with ``baseline``, the same
    core without EORS). Every prediction and result is checked against the golden model.

    ``audit``: one more run of the core, audited (every tap computed, the prediction
    applied at the drain), whose ``false_zero`` and ``missed_zero`` counters count the
    mispredictions in hardware; they must equal the host's counts. ``natural``: one more
    run of the core with EORS, its channels in natural order instead of balanced
    (``cycles_natural``), to measure what the balancing gives. ``pipelined``: the layer
    once more through :class:`~ganforge.rtl.eors.pipeline.EorsPipeline`, the unit and the
    core in one simulation, ``pipeline_tile`` samples per tile (None: the firmware's
    choice, :func:`~ganforge.firmware.compiler.eors.pipeline_tile`), the core computing tile
    ``t`` while the unit speculates tile ``t + 1`` (``cycles_pipelined``: the overlapped
    cost, measured; ``pipeline_tile``: the tile used). A larger tile loads each channel
    group's weights once for all its samples but leaves a longer first speculation exposed.
    ``pipeline_resets``: cycles at which that pipelined program is run again and the top
    reset mid-run; each next run must repeat the first's words exactly
    (``pipeline_resets`` in the result: the cycle and what was busy).

    The two units run one after the other here; the overlapped total is computed from
    their two measured cycle counts (see ``eors_overlapped_cycles``).
    """
    from ganforge.firmware.compiler import check_program, compile_eors, compile_op, eors_prediction
    from ganforge.golden import eors_counts, eors_fp, eors_predict
    from ganforge.rtl.eors import EorsUnit
    from ganforge.config import core_from_config, eors_unit_from_config
    from ganforge.testbench import simulate_program as simulate
    if op not in ("conv", "conv_transpose") or params.get("activation") != "relu":
        raise UserError(f"--eors speculates ReLU layers' FP: the op must be conv or "
                        f"conv_transpose with activation relu (got {op}, "
                        f"{params.get('activation')})")
    if "out_mask" in params:
        raise UserError("--eors computes the layer's output mask; the input must not have out_mask")
    if pipeline_tile is not None and (not isinstance(pipeline_tile, int) or pipeline_tile < 1):
        raise UserError(f"pipeline_tile must be an integer >= 1 (samples per tile) or None, "
                        f"got {pipeline_tile!r}")
    ukw, core = eors_unit_from_config(config, eors_lanes), core_from_config(config)
    knobs = dict(mantissa_bits=ukw["mantissa_bits"], margin=int(margin), acc_width=ukw["acc_width"])
    geo = dict(stride=params["stride"], padding=params["padding"],
               output_padding=params.get("output_padding", 0))
    x, w = tensors["x"], tensors["w"]
    try:
        want_pred = eors_predict(x, w, params.get("bias"), op=op, **geo, **knobs)
        def speculation(t):
            return compile_eors(op, t, lanes=ukw["lanes"], weight_depth=ukw["weight_depth"],
                                out_depth=ukw["out_depth"], data_width=ukw["data_width"],
                                bias=params.get("bias"), **geo, **knobs)
        uprog = speculation(tensors)
        check_program(uprog, ukw)
        # the core's passes with the prediction differ only in their masks
        check_program(compile_op(op, tensors, lanes=core["lanes"], weight_depth=core["weight_depth"],
                                 out_depth=core["out_depth"], **params), core,
                      bias=params.get("bias"))
    except OverflowError as exc:
        raise UserError(f"{op}: {exc} (raise eors_acc_width)")
    except ValueError as exc:
        raise UserError(f"{op}: {exc}")
    drained, ucount, ucycles = simulate(uprog, ukw, sim=sim, throttle=throttle, quiet=True,
                                        build_root=build_root, seed=seed, component=EorsUnit)
    pred = eors_prediction(uprog, drained)
    want_y, want_m, _ = eors_fp(x, w, params.get("bias"), shift=params["shift"], op=op,
                                width=config.data_width, **geo, **knobs)
    mparams = dict(params, out_mask=~pred)
    prog = compile_op(op, tensors, lanes=core["lanes"], weight_depth=core["weight_depth"],
                      out_depth=core["out_depth"], **mparams)
    cdrained, counters, cycles = simulate(prog, core, sim=sim, throttle=throttle, quiet=True,
                                          build_root=build_root, seed=seed)
    y, m = prog.assemble(cdrained)
    true_y, true_m = _reference(op, tensors, params)
    out = {"result": y, "relu_mask": m, "predicted_zero": pred, "cycles": cycles,
           "lanes": core["lanes"], "eors_lanes": ukw["lanes"], "eors_cycles": ucycles, "eors_macs": ucount["macs_issued"],
           "eors_error": ucount["error"], "eors_mantissa_bits": knobs["mantissa_bits"],
           "eors_margin": knobs["margin"], "eors_acc_width": knobs["acc_width"],
           "prediction_matches_golden": bool(np.array_equal(pred, want_pred)),
           "matches_golden": bool(np.array_equal(pred, want_pred) and np.array_equal(y, want_y)
                                  and np.array_equal(m, want_m))}
    out.update({k: v for k, v in counters.items()})
    out.update(_work(op, tensors, mparams, core["lanes"]))
    # False and missed zeros need the true outputs, which neither unit computes for a
    # predicted zero: the host counts them against the golden model.
    out.update({f"eors_{k}": v for k, v in eors_counts(pred, true_m).items()})
    if natural:
        nprog = compile_op(op, tensors, lanes=core["lanes"], weight_depth=core["weight_depth"],
                           out_depth=core["out_depth"], balance=False, **mparams)
        ndrained, _, out["cycles_natural"] = simulate(nprog, core, sim=sim, throttle=throttle,
                                                      quiet=True, build_root=build_root, seed=seed)
        ny, nm = nprog.assemble(ndrained)
        out["matches_golden"] &= bool(np.array_equal(ny, want_y) and np.array_equal(nm, want_m))
    if pipelined:
        out.update(_pipelined(op, tensors, params, core, ukw, speculation, want_pred, want_y,
                              want_m, pipeline_tile, sim=sim, throttle=throttle,
                              build_root=build_root, seed=seed, resets=pipeline_resets))
        out["matches_golden"] &= out["pipelined_matches_golden"]
    if audit:
        aprog = compile_op(op, tensors, lanes=core["lanes"], weight_depth=core["weight_depth"],
                           out_depth=core["out_depth"], audit=True, **mparams)
        adrained, acount, acycles = simulate(aprog, core, sim=sim, throttle=throttle, quiet=True,
                                             build_root=build_root, seed=seed)
        ay, am = aprog.assemble(adrained)
        out.update(audit_cycles=acycles, audit_false_zero=acount["false_zero"],
                   audit_missed_zero=acount["missed_zero"], audit_error=acount["error"])
        out["audit_matches_golden"] = bool(
            np.array_equal(ay, want_y) and np.array_equal(am, want_m)
            and acount["false_zero"] == out["eors_false_zero"]
            and acount["missed_zero"] == out["eors_missed_zero"])
        out["matches_golden"] &= out["audit_matches_golden"]
    if baseline:
        bprog = compile_op(op, tensors, lanes=core["lanes"], weight_depth=core["weight_depth"],
                           out_depth=core["out_depth"], **params)
        bdrained, _, bcycles = simulate(bprog, core, sim=sim, throttle=throttle, quiet=True,
                                        build_root=build_root, seed=seed)
        by, bm = bprog.assemble(bdrained)
        out["cycles_no_eors"] = bcycles
        out["matches_golden"] &= bool(np.array_equal(by, true_y) and np.array_equal(bm, true_m))
    out["cycles_sequential"] = ucycles + cycles
    out["cycles_overlapped_computed"] = eors_overlapped_cycles(ucycles, cycles)
    return out


def _pipelined(op, tensors, params, core, ukw, speculation, want_pred, want_y, want_m, tile,
               **sim_kw):
    """EORS overlapped on the pipeline top level, ``tile`` samples per tile (None: the
    firmware's choice; see simulate_eors_op)."""
    from ganforge.firmware.compiler import compile_op, eors_prediction, pipeline_tile
    from ganforge.testbench import simulate_pipeline
    if tile is None:
        tile = pipeline_tile(op, tensors, weight_depth=core["weight_depth"], **params)
    spans = [slice(n, n + tile) for n in range(0, tensors["x"].shape[0], tile)]
    tiles = [{k: (v[s] if k == "x" else v) for k, v in tensors.items()} for s in spans]
    uprogs = [speculation(t) for t in tiles]
    cprogs = [compile_op(op, t, lanes=core["lanes"], weight_depth=core["weight_depth"],
                         out_depth=core["out_depth"], **dict(params, out_mask=~want_pred[s]))
              for s, t in zip(spans, tiles)]
    udrained, cdrained, res = simulate_pipeline(uprogs, cprogs, ukw, core, **sim_kw)
    ok = res["core"]["error"] == 0 and res["unit"]["error"] == 0
    for s, up, ud, cp, cd in zip(spans, uprogs, udrained, cprogs, cdrained):
        y, m = cp.assemble(cd)
        ok &= bool(np.array_equal(eors_prediction(up, ud), want_pred[s])
                   and np.array_equal(y, want_y[s]) and np.array_equal(m, want_m[s]))
    return {"cycles_pipelined": res["cycles"], "pipeline_core_start": np.array(res["core_start"]),
            "pipeline_tile": tile,
            "pipeline_unit_cycles_busy": res["unit"]["cycles_busy"],
            "pipeline_resets": res["resets"],
            "pipelined_matches_golden": bool(ok)}


def eors_overlapped_cycles(eors_cycles, core_cycles):
    """The overlapped total, *computed* from two measured counts (not simulated together):
    the speculation of tile t+1 runs while the core computes tile t, so the longer of the
    two streams sets the pace: ``max(eors_cycles, core_cycles)``. It leaves out the first
    tile's speculation, which nothing hides, so it is a lower bound."""
    return max(int(eors_cycles), int(core_cycles))
