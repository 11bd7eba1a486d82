"""ganforge.bench: the benchmarks and studies behind ``make bench-*`` and docs/bench-core.md,
docs/eors.md and docs/rolin.md, as library code; ``scripts/`` only parses arguments and calls them.

* :mod:`~ganforge.bench.core`: cycles of the sparse core (``build/bench/core.json``);
* :mod:`~ganforge.bench.eors`: EORS on the RTL (``build/bench/eors.json``);
* :mod:`~ganforge.bench.rolin`: ROLIN's external-memory traffic (``build/bench/rolin.json``);
* :mod:`~ganforge.bench.eors_study`: EORS in the golden model, rates and training
  (``build/bench/eors_golden.json``);
* :mod:`~ganforge.bench.lane_balance`: the lane-balance cost model of EORS.

A bench's independent simulations (layers, sweep points, modes, seeds) go
through one :class:`~ganforge.executor.Executor` (local processes, or a Dask
cluster) and are merged here, in a fixed order, whatever order they finish in.
"""


class BenchFailure(RuntimeError):
    """A bench ran but its result is wrong (for example it does not match the golden model)."""


def log(msg):
    """Progress and notes of a bench: one line on stderr."""
    import sys
    print(msg, file=sys.stderr, flush=True)


class Follow:
    """Hands each ``progress:`` line a cocotb bench writes to its simulator log to
    ``show(message)`` while the bench runs (a thread reads the log every ``every``
    seconds; a last read at the end). A context manager; ``show=None`` does nothing."""

    def __init__(self, path, show, every=1.0):
        import threading
        self.path, self.show, self.every, self.seen = path, show, every, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True) if show else None

    def __enter__(self):
        if self._thread:
            self._thread.start()
        return self

    def __exit__(self, *exc):
        if self._thread:
            self._stop.set()
            self._thread.join()
            self._read()

    def _run(self):
        while not self._stop.wait(self.every):
            self._read()

    def _read(self):
        try:
            with open(self.path, errors="replace") as f:
                lines = f.read().splitlines()
        except OSError:
            return
        for line in lines[self.seen:]:
            if "progress:" in line:
                self.show(line.split("progress:", 1)[1].strip())
        self.seen = len(lines)


def run_script(parser, args, prog, bench):
    """The end of a bench script: ``bench(executor)`` (the executor of ``--jobs`` and
    ``--cluster``) returns the lines to print. An executor that cannot start is the
    parser's one-line error; a bench that fails is one line (``PROG: error: ...``) and
    status 1; otherwise the lines, ``wrote args.out`` and status 0."""
    import sys
    from ganforge.executor import ExecutorError, from_arguments
    from ganforge.testbench import BenchError
    try:
        with from_arguments(args, None if args.quiet else prog) as executor:
            lines = bench(executor)
    except ExecutorError as exc:
        parser.error(str(exc))
    except BenchError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 1
    print("\n".join(lines))
    print(f"wrote {args.out}")
    return 0
