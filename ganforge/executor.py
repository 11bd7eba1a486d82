"""One executor for a bench's independent runs (layers, sweep points, seeds).

:class:`Executor` maps a module-level function over a list of items and
returns the results in input order, wherever they ran:

* local worker processes by default, as many as the cores
  (``concurrent.futures.ProcessPoolExecutor``; ``jobs=N`` sets the number;
  ``jobs=1`` runs in this process, one item after the other);
* a Dask distributed cluster when a scheduler address is given
  (``cluster="tcp://HOST:PORT"``, or the environment variable
  ``GANFORGE_CLUSTER``). The workers need ganforge installed (with
  ``ganforge[sim,cluster]`` for simulations); relative paths such as the
  simulator's build folder are relative to each worker's working folder.

Progress goes to stderr, one line per finished item
(``bench-core: 3/12 done (G1 FP dense) [41 s]``). The first item that raises
stops the map and its exception is raised to the caller (the items still
queued are cancelled). Problems reaching a cluster raise :class:`ExecutorError`
with one line: dask not installed, or the scheduler unreachable within
``connect_timeout`` seconds.

The bench scripts take ``--jobs N`` and ``--cluster ADDRESS``
(:func:`add_arguments`, :func:`from_arguments`).
"""

import os
import sys
import time

__all__ = ["Executor", "ExecutorError", "ENV_CLUSTER", "default_jobs", "add_arguments",
           "from_arguments"]

#: The environment variable naming a Dask scheduler when ``--cluster`` is not given.
ENV_CLUSTER = "GANFORGE_CLUSTER"


class ExecutorError(RuntimeError):
    """The executor cannot run where it was asked to (dask missing, scheduler unreachable)."""


def default_jobs():
    """The cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:                      # not on Linux
        return os.cpu_count() or 1


class Executor:
    """Map a function over independent items, locally or on a Dask cluster.

    ``jobs``: local worker processes (None: :func:`default_jobs`; 1: in this process).
    ``cluster``: a Dask scheduler address (``tcp://HOST:PORT``, or any address
    ``distributed.Client`` takes); None reads ``GANFORGE_CLUSTER``, and an empty
    value means local. ``label``: the prefix of the progress lines (None: silent).
    ``connect_timeout``: seconds to reach the scheduler. Use it as a context
    manager, or call :meth:`close`, to release the cluster connection.
    """

    def __init__(self, jobs=None, cluster=None, *, label="bench", connect_timeout=10.0):
        if jobs is not None and (not isinstance(jobs, int) or jobs < 1):
            raise ValueError(f"jobs must be a positive integer or None, got {jobs!r}")
        self.jobs = default_jobs() if jobs is None else jobs
        self.cluster = cluster if cluster is not None else os.environ.get(ENV_CLUSTER) or None
        self.label = label
        self.connect_timeout = connect_timeout
        self._client = None

    def __enter__(self):
        if self.cluster:
            self._connect()
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        """Release the cluster connection, if there is one."""
        if self._client is not None:
            self._client.close()
            self._client = None

    def describe(self):
        """Where the runs go, in words (for a report)."""
        if self.cluster:
            return f"Dask cluster at {self.cluster}"
        return "this process" if self.jobs == 1 else f"{self.jobs} local processes"

    def map(self, fn, items, *, names=None):
        """``[fn(item) for item in items]``, the calls run apart; results in input order.

        ``fn`` must be a module-level function and ``items`` picklable (they travel to
        worker processes). ``names``: a short name per item for the progress lines.
        """
        items = list(items)
        names = [str(i) for i in range(len(items))] if names is None else list(names)
        if len(names) != len(items):
            raise ValueError(f"names: {len(names)} names for {len(items)} items")
        if not items:
            return []
        progress = _Progress(self.label, len(items))
        if self.cluster:
            return self._map_dask(fn, items, names, progress)
        if self.jobs == 1 or len(items) == 1:
            out = []
            for item, name in zip(items, names):
                out.append(fn(item))
                progress.done(name)
            return out
        return self._map_processes(fn, items, names, progress)

    def _map_processes(self, fn, items, names, progress):
        from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
        results = [None] * len(items)
        with ProcessPoolExecutor(max_workers=min(self.jobs, len(items))) as pool:
            index = {pool.submit(fn, item): i for i, item in enumerate(items)}
            pending = set(index)
            while pending:
                # Each item reports as it finishes; the first failure stops the map.
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in sorted(done, key=index.get):
                    if future.exception() is not None:
                        for other in pending:
                            other.cancel()
                        raise future.exception()
                    results[index[future]] = future.result()
                    progress.done(names[index[future]])
        return results

    def _connect(self):
        if self._client is not None:
            return self._client
        try:
            from distributed import Client
        except ImportError:
            raise ExecutorError(f"--cluster {self.cluster} needs dask.distributed: "
                                f"pip install 'ganforge[cluster]'") from None
        try:
            self._client = Client(self.cluster, timeout=self.connect_timeout,
                                  set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ExecutorError(f"cannot reach the Dask scheduler at {self.cluster} within "
                                f"{self.connect_timeout:g} s: {reason}") from None
        return self._client

    def _map_dask(self, fn, items, names, progress):
        client = self._connect()
        from distributed import as_completed
        futures = client.map(fn, items, pure=False)
        index = {f.key: i for i, f in enumerate(futures)}
        results = [None] * len(items)
        try:
            for future in as_completed(futures, loop=client.loop):
                i = index[future.key]
                results[i] = future.result()        # raises the item's exception
                progress.done(names[i])
        finally:
            client.cancel([f for f in futures if not f.done()])
        return results


class _Progress:
    """``LABEL: k/n done (name) [s]`` on stderr as items finish."""

    def __init__(self, label, total):
        self.label, self.total, self.count, self.t0 = label, total, 0, time.monotonic()

    def done(self, name):
        self.count += 1
        if self.label:
            print(f"{self.label}: {self.count}/{self.total} done ({name}) "
                  f"[{time.monotonic() - self.t0:.0f} s]", file=sys.stderr, flush=True)


def add_arguments(parser):
    """Add ``--jobs`` and ``--cluster`` to a bench script's parser."""
    from ganforge.cli import positive_int
    parser.add_argument("--jobs", type=positive_int, default=None, metavar="N",
                        help=f"simulations at once in local processes (default: the cores, "
                             f"{default_jobs()})")
    parser.add_argument("--cluster", default=None, metavar="ADDRESS",
                        help=f"run the simulations on the Dask scheduler at ADDRESS "
                             f"(tcp://HOST:PORT; default: ${ENV_CLUSTER}, else local)")


def from_arguments(args, label):
    """The :class:`Executor` of a script's parsed ``--jobs`` and ``--cluster``."""
    return Executor(jobs=args.jobs, cluster=args.cluster, label=label)
