"""ganforge.executor: a bench's independent runs in local processes or on a Dask cluster,
results in input order, progress on stderr, one-line errors."""

import sys
import time

import numpy as np
import pytest

from ganforge.executor import ENV_CLUSTER, Executor, ExecutorError


def _square_slowly(n):
    """Later items finish first, so the order of completion is not the input order."""
    time.sleep(0.05 * (4 - n))
    return n * n


def _fail_on_two(n):
    if n == 2:
        raise ValueError(f"item {n} is bad")
    return n


def test_local_processes_return_results_in_input_order():
    assert Executor(jobs=2, label=None).map(_square_slowly, [0, 1, 2, 3]) == [0, 1, 4, 9]


def test_in_process_run_reports_progress_on_stderr(capsys):
    out = Executor(jobs=1, label="bench-x").map(_square_slowly, [3, 2], names=["a", "b"])
    assert out == [9, 4]
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(" [")[0] for line in lines] == ["bench-x: 1/2 done (a)", "bench-x: 2/2 done (b)"]


def _sleep(seconds):
    time.sleep(seconds)
    return seconds


def test_local_processes_report_each_item_as_it_finishes(monkeypatch):
    """A quick item is reported while a slow one still runs, not when the map ends."""
    from ganforge import executor
    seen = {}
    real_done = executor._Progress.done

    def done(self, name):
        seen[name] = time.monotonic()
        real_done(self, name)
    monkeypatch.setattr(executor._Progress, "done", done)
    assert Executor(jobs=2, label=None).map(_sleep, [2.0, 0.0], names=["slow", "quick"]) == [2.0, 0.0]
    assert seen["slow"] - seen["quick"] > 1.0, seen


@pytest.mark.parametrize("jobs", [1, 2])
def test_an_item_that_raises_stops_the_map(jobs):
    with pytest.raises(ValueError, match="item 2 is bad"):
        Executor(jobs=jobs, label=None).map(_fail_on_two, [0, 1, 2, 3])


def test_jobs_must_be_positive():
    with pytest.raises(ValueError, match="jobs"):
        Executor(jobs=0)


def test_the_environment_names_the_cluster(monkeypatch):
    monkeypatch.setenv(ENV_CLUSTER, "tcp://10.0.0.1:8786")
    assert Executor().cluster == "tcp://10.0.0.1:8786"
    assert "Dask cluster at tcp://10.0.0.1:8786" == Executor().describe()
    monkeypatch.setenv(ENV_CLUSTER, "")
    assert Executor(jobs=3).cluster is None and Executor(jobs=3).describe() == "3 local processes"


def test_unreachable_scheduler_is_one_line_after_the_timeout():
    t0 = time.monotonic()
    with pytest.raises(ExecutorError, match=r"^cannot reach the Dask scheduler at "
                                            r"tcp://127\.0\.0\.1:9 within 1 s"):
        with Executor(cluster="tcp://127.0.0.1:9", connect_timeout=1):
            pass
    assert time.monotonic() - t0 < 30


def test_missing_dask_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)      # import distributed fails
    with pytest.raises(ExecutorError, match=r"pip install 'ganforge\[cluster\]'"):
        Executor(cluster="tcp://127.0.0.1:8786").map(_square_slowly, [1])


def test_a_cluster_map_keeps_the_input_order_and_raises_an_item_error():
    from distributed import LocalCluster
    with LocalCluster(n_workers=1, threads_per_worker=4, processes=False,
                      dashboard_address=None) as cluster:
        with Executor(cluster=cluster.scheduler_address, label=None) as ex:
            assert ex.map(_square_slowly, [0, 1, 2, 3]) == [0, 1, 4, 9]
            with pytest.raises(ValueError, match="item 2 is bad"):
                ex.map(_fail_on_two, [0, 1, 2, 3])


def test_a_small_bench_on_a_local_cluster_equals_the_local_run(tmp_path):
    """Two tiny core ops of ganforge.bench.core on Icarus: through a Dask LocalCluster (the
    two simulations at once, in threads) and in this process, the same counters and cycles."""
    from distributed import LocalCluster
    from ganforge.bench.core import simulate_case
    from ganforge.config import get_preset
    config = get_preset("tiny")
    rng = np.random.default_rng(3)
    x = rng.integers(-100, 100, (1, 2, 4, 4))
    x[rng.random(x.shape) < 0.5] = 0
    w = rng.integers(-100, 100, (2, 2, 3, 3))
    params = dict(stride=1, padding=1, shift=4, activation="relu", slope_shift=2)
    build = str(tmp_path / "sim")
    cases = [("conv", {"x": x, "w": w}, params, config, dense, "icarus", build)
             for dense in (True, False)]
    local = Executor(jobs=1, label=None).map(simulate_case, cases)
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                      dashboard_address=None) as cluster:
        with Executor(cluster=cluster.scheduler_address, label=None) as ex:
            remote = ex.map(simulate_case, cases)
    assert remote == local
    dense, sparse = local
    assert dense["macs_issued"] == dense["dense_macs"] > sparse["macs_issued"] > 0
