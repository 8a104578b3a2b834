import numpy as np
import pandas as pd
import pytest

from features.interactions import IdIndex
from training.evaluation import evaluate, evaluate_new_customers, heldout_window, one_pass

AS_OF = pd.Timestamp("2011-03-01")


def test_heldout_window_splits_tasks_groups_and_new_customers(orders):
    users = IdIndex(["A", "B"])
    tw = heldout_window(orders, users, AS_OF)
    # After the cutoff A buys z (new to A) and C, a new customer, buys x.
    assert tw.users == ["A"] and tw.rows.tolist() == [0]
    assert tw.truth == {"all": {"A": {"z"}}, "discovery": {"A": {"z"}}, "buy_again": {}}
    assert tw.group == {"A": "light"}
    assert tw.new_truth == {"C": {"x"}}


def test_evaluate_scores_each_task_with_the_models_lists(orders):
    users, items = IdIndex(["A", "B"]), IdIndex(["x", "y", "z"])
    tw = heldout_window(orders, users, AS_OF)

    def recommend(rows, k, task):
        # z second for "all", first for "discovery": NDCG 1/log2(3) and 1.
        first = [0, 2, 1] if task == "all" else [2, 0, 1]
        return np.array([first + [-1] * (k - 3)] * len(rows))

    m = evaluate(recommend, tw, items)
    assert m["all_ndcg_at_10"] == pytest.approx(1 / np.log2(3))
    assert m["discovery_ndcg_at_10"] == 1.0
    assert m["all_hit_rate_at_20"] == 1.0 and m["all_precision_at_10"] == pytest.approx(0.1)
    assert m["all_coverage_at_10"] == 1.0  # the one list shows all three items
    assert m["all_ndcg_at_10_light"] == m["all_ndcg_at_10"]
    assert "buy_again_ndcg_at_10" not in m  # nobody re-ordered
    assert evaluate_new_customers(["x", "y"], tw) == {"all_ndcg_at_10_new": 1.0}


def test_evaluate_asks_only_for_the_tasks_it_is_given(orders):
    users, items = IdIndex(["A", "B"]), IdIndex(["x", "y", "z"])
    tw = heldout_window(orders, users, AS_OF)
    asked = []

    def recommend(rows, k, task):
        asked.append(task)
        return np.array([[2, 0, 1] + [-1] * (k - 3)] * len(rows))

    m = evaluate(recommend, tw, items, tasks=("all",))
    assert asked == ["all"] and m["all_ndcg_at_10"] == 1.0
    assert not [name for name in m if name.startswith("discovery")]
    with pytest.raises(ValueError, match="unknown tasks \\['discover'\\]"):
        evaluate(recommend, tw, items, tasks=("discover",))


def test_a_one_pass_model_ranks_once_per_rows_and_k_and_gives_each_task_its_lists(orders):
    users, items = IdIndex(["A", "B"]), IdIndex(["x", "y", "z"])
    tw = heldout_window(orders, users, AS_OF)
    calls = []

    def recommend_tasks(rows, k):
        calls.append((rows.tolist(), k))
        pad = [-1] * (k - 3)
        return {"all": np.array([[0, 2, 1] + pad] * len(rows)),
                "discovery": np.array([[2, 0, 1] + pad] * len(rows)), "buy_again": None}

    recommend = one_pass(recommend_tasks)
    m = evaluate(recommend, tw, items)
    assert calls == [([0], 20)]
    assert m["all_ndcg_at_10"] == pytest.approx(1 / np.log2(3)) and m["discovery_ndcg_at_10"] == 1.0
    recommend(np.array([1]), 20, "all")
    assert calls[-1] == ([1], 20)  # other rows: ranked again


def test_baskets_query_one_item_and_score_the_rest_of_the_order():
    import scipy.sparse as sp

    from training.evaluation import evaluate_baskets
    baskets = sp.csr_matrix(np.array([[1, 1, 1], [0, 1, 0], [1, 0, 1]], dtype=np.float32))
    seen = []

    def recommend(carts, k):
        seen.extend(c.tolist() for c in carts)
        return np.array([[2, 1]] * len(carts))

    m = evaluate_baskets(recommend, baskets, k=2)
    assert seen == [[0], [0]]  # the single-item order is skipped
    assert m["basket_orders"] == 2 and m["basket_hit_rate_at_2"] == 1.0
    assert m["basket_ndcg_at_2"] == pytest.approx((1.0 + 1.0) / 2)  # both truths fully ranked first


def test_baskets_beyond_the_limit_are_a_seeded_sample_the_same_for_every_model():
    import scipy.sparse as sp

    from training.evaluation import evaluate_baskets
    baskets = sp.csr_matrix(np.array([[1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 1], [1, 0, 0, 1]], dtype=np.float32))
    asked = []

    def recommend(carts, k):
        asked.append([c.tolist() for c in carts])
        return np.array([[1, 2]] * len(carts))

    m = evaluate_baskets(recommend, baskets, k=2, max_orders=2)
    again = evaluate_baskets(recommend, baskets, k=2, max_orders=2)
    assert len(asked[0]) == 2 and asked[0] == asked[1] and m == again
    assert m["basket_orders"] == 2 and m["basket_orders_in_window"] == 4
    assert evaluate_baskets(recommend, baskets, k=2)["basket_orders"] == 4


def test_a_window_with_more_customers_than_the_limit_is_measured_on_a_seeded_sample():
    from tests.conftest import make_orders

    orders = make_orders([(f"o{c}{k}", c, item, 1, 1.0, day) for c in "ABCD"
                          for k, (item, day) in enumerate([("x", "2011-01-10"), ("y", "2011-02-10"),
                                                           ("x", "2011-03-10"), (f"new-{c}", "2011-03-20")])])
    users = IdIndex(list("ABCD"))
    whole = heldout_window(orders, users, AS_OF)
    sample = heldout_window(orders, users, AS_OF, max_customers=2)
    assert len(whole.users) == 4 and len(sample.users) == 2 and sample.sampled_from == 4
    for c in sample.users:  # a sampled customer's truth and group are the whole window's
        for task in ("all", "discovery", "buy_again"):
            assert sample.truth[task][c] == whole.truth[task][c]
        assert sample.group[c] == whole.group[c]
    assert heldout_window(orders, users, AS_OF, max_customers=2).users == sample.users  # seeded


@pytest.mark.parametrize("sparse_lists", [False, True])
def test_buy_again_ranks_only_the_customers_own_items_by_the_models_scores(sparse_lists, request):
    import scipy.sparse as sp

    from training.evaluation import matrix_recommender
    from training.recommenders import RepurchaseRecommender

    if sparse_lists:
        request.getfixturevalue("large")
    orders = sp.csr_matrix(np.array([[3, 0, 1, 0, 2], [0, 1, 0, 0, 0], [0, 0, 0, 0, 0]], np.float32))
    model = RepurchaseRecommender().fit(orders)
    ids = matrix_recommender(model, orders)(np.array([0, 1, 2]), 4, "buy_again")
    assert ids.tolist() == [[0, 4, 2, -1], [1, -1, -1, -1], [-1, -1, -1, -1]]
