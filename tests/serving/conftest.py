import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp


@pytest.fixture(scope="session")
def blended_dir(tmp_path_factory):
    """A small blended recommender saved as the service reads it (titles "title <id>",
    popularity n..1 in model order)."""
    from tests.conftest import make_small_shop
    from training.ranker import BlendedRecommender, RankerParams

    model = BlendedRecommender(RankerParams(n_windows=3, window_days=60, max_rounds=30)).fit(
        make_small_shop(), pd.Timestamp("2011-03-01"))
    path = tmp_path_factory.mktemp("blended")
    items = model.history_.items
    n = len(items)
    # Rules "i0 -> i6 (confidence 0.9)" and "i2 -> i8 (0.5)".
    rows, cols = items.indices(["i0", "i2"]), items.indices(["i6", "i8"])
    fbt = sp.csr_matrix(([0.9, 0.5], (rows, cols)), shape=(n, n))
    model.save(path, np.array([f"title {i}" for i in items.ids]), np.arange(n, 0, -1), {}, fbt_scores=fbt)
    return path, model
