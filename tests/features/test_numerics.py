import numpy as np
import pytest

from features import numerics


def test_lightgbm_threads_default_to_two_and_follow_the_variable(monkeypatch):
    monkeypatch.delenv("SHELFWISE_LIGHTGBM_THREADS", raising=False)
    assert numerics.lightgbm_threads() == 2
    monkeypatch.setenv("SHELFWISE_LIGHTGBM_THREADS", "1")
    assert numerics.lightgbm_threads() == 1


@pytest.mark.parametrize("value", ["0", "two", "-1", ""])
def test_a_bad_thread_count_names_the_variable(monkeypatch, value):
    monkeypatch.setenv("SHELFWISE_LIGHTGBM_THREADS", value)
    with pytest.raises(ValueError, match="SHELFWISE_LIGHTGBM_THREADS"):
        numerics.lightgbm_threads()


def test_lightgbm_run_parameters_give_the_same_trees_for_a_seed_and_other_trees_for_another():
    lgb = pytest.importorskip("lightgbm")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 3))
    y = X[:, 0] + rng.normal(size=400)

    def fit(seed):  # row bagging makes the trees depend on the seed
        params = {"objective": "regression", "bagging_fraction": 0.5, "bagging_freq": 1,
                  **numerics.lightgbm_run(seed)}
        return lgb.train(params, lgb.Dataset(X, y), 20).predict(X)

    np.testing.assert_array_equal(fit(1), fit(1))
    assert not np.array_equal(fit(1), fit(2))


RETAINED = """
import gc, sys
import pandas as pd, psutil, pyarrow as pa, pyarrow.parquet as pq
from features import numerics
if pa.default_memory_pool().backend_name != "jemalloc":
    print("skip", pa.default_memory_pool().backend_name); sys.exit()
if sys.argv[2] == "at-once":
    numerics.return_arrow_memory_at_once()
before = psutil.Process().memory_info().rss
table = pq.read_table(sys.argv[1]).to_pandas()  # as Workspace.read_table reads the orders
held = psutil.Process().memory_info().rss - before
del table
gc.collect()
print(held, psutil.Process().memory_info().rss - before)
"""


def test_arrow_memory_freed_goes_back_to_the_system_at_once(tmp_path):
    """A service worker reads the orders table whole and drops it: with the decay at 0 the
    freed Arrow memory leaves the process's resident set; with Arrow's default it stays."""
    import os
    import subprocess
    import sys

    import pandas as pd

    path = tmp_path / "orders.parquet"
    n = 1_000_000
    pd.DataFrame({"order_id": [f"order-{i:09d}" for i in range(n)],
                  "customer_id": [f"customer-{i % 50_000:07d}" for i in range(n)],
                  "revenue": np.arange(n, dtype=float)}).to_parquet(path, row_group_size=50_000)
    env = {**os.environ, "ARROW_DEFAULT_MEMORY_POOL": "jemalloc"}
    out = {}
    for mode in ("at-once", "default"):
        run = subprocess.run([sys.executable, "-c", RETAINED, str(path), mode], env=env, capture_output=True,
                             text=True, check=True)
        if run.stdout.startswith("skip"):
            pytest.skip(f"Arrow allocates with {run.stdout.split()[1]} here, not jemalloc")
        out[mode] = [int(v) for v in run.stdout.split()]
    (held, kept), (_, kept_default) = out["at-once"], out["default"]
    assert kept < held / 4, out
    assert kept_default > 2 * kept, out  # the setting is what returns it
