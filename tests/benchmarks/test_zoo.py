"""The zoo's small version: new shops of other shapes, end to end through the CLI and HTTP."""

import pytest

from benchmarks.zoo import run_shop, table
from features.sources.synthetic import ShopShape

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# CDNOW's shape: customers, days and amounts, but every line the same item.
ONE_ITEM = ShopShape("single", customers=300, items=1, days=400, mean_gap_days=40.0, mean_orders=5.0,
                     basket_lines=(1, 1), reorder_share=0.0, taste_groups=1, price_median=15.0)


def test_a_grocery_shop_is_served_the_lists_its_training_measured(tmp_path):
    row = run_shop("grocery", "tiny", tmp_path / "grocery", say=lambda _: None)
    assert row["train_exit"] == 0 and row["skipped"] == {}
    assert set(row["status"]["families"]) == {"recs", "churn", "cltv"}
    assert all(v.startswith("shelfwise-") for v in row["status"]["families"].values())
    assert row["recommend_status"] == 200 and row["customer_status"] == 200
    assert len(row["recommend_answer"]["items"]) == 10  # a new visitor gets a full list
    # The lists served over HTTP score what the training job measured for the model it chose.
    assert row["served_all"] == pytest.approx(row["all_trained"], abs=0.01)
    assert row["served_discovery"] == pytest.approx(row["discovery_trained"], abs=0.01)
    assert "| grocery |" in "\n".join(table([row]))


def test_a_shop_without_item_ids_serves_customer_scores_and_says_why_there_are_no_lists(tmp_path):
    row = run_shop("single-item", "tiny", tmp_path / "single", say=lambda _: None, shape=ONE_ITEM)
    assert row["train_exit"] == 3  # some families skipped
    assert set(row["skipped"]) == {"recs"} and "name 1 item(s)" in row["skipped"]["recs"]
    families = row["status"]["families"]
    assert families["recs"] == "no champion: run `shelfwise train recs --as-of YYYY-MM-DD`"
    assert families["churn"].startswith("shelfwise-churn/") and families["cltv"].startswith("shelfwise-cltv/")
    assert row["recommend_status"] == 503 and row["customer_status"] == 200
    assert row["recommend_answer"]["error"].startswith("/recommend needs the recs model, which has no champion")
    assert "`shelfwise train recs --as-of YYYY-MM-DD`" in row["recommend_answer"]["error"]
    assert "recs: " in "\n".join(table([row]))
