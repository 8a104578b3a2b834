import pytest

from serving.marketing.offers import DEFAULT_CATALOGUE, NO_OFFER, DecisionLog, OfferCatalogue, OfferPolicy
from serving.marketing.segments import CustomerBase
from serving.runtime.score_table import ScoredCustomers

CATALOGUE = """
[assumptions]
margin = 0.5
bundle_quantity = 10

[offers.retention]
kind = "retention"
save_rate = 0.1
cost_fixed = 10.0
eligible = { risk_band = ["medium", "high"] }

[offers.win_back]
kind = "win_back"
reactivation_rate = 0.1
cost_share_of_order = 0.02
eligible = { lifecycle = ["lapsed", "churned"] }

[offers.bundle]
kind = "cross_sell"
take_rate = 0.5
bundle_size = 2
eligible = { lifecycle = ["active", "new"] }

[campaigns.keep]
offers = ["retention", "win_back"]
budget = 6.0
max_contacts = 1
contact_window_days = 30
"""


@pytest.fixture
def policy(marketing_shop, tmp_path):
    orders, customers, items, scorer, recs = marketing_shop
    path = tmp_path / "offers.toml"
    path.write_text(CATALOGUE)
    base = CustomerBase(ScoredCustomers.compute(scorer, orders, customers, items), items, recs)
    return OfferPolicy(base, OfferCatalogue.read(path), items.set_index("item_id")["price"])


def test_each_customer_gets_the_offer_with_the_highest_expected_net_value(policy):
    # C: P(churn) 0.8 x CLTV 500 x 0.1 = 40 revenue x 0.5 - 10 = 10.
    c = policy.decide("C")
    assert (c["offer"], c["expected_value"], c["expected_revenue"], c["cost"]) == ("retention", 10.0, 40.0, 10.0)
    assert c["reason"].startswith("retention: P(churn) 0.80 x predicted CLTV 500.00 x save rate 0.10 = 40.00 "
                                  "expected revenue x margin 0.50 - cost 10.00 = 10.00 expected net value")
    # E: average order 150 (two orders of 150): 0.1 x 150 = 15 x 0.5 - 0.02 x 150 = 4.5, beating retention.
    e = policy.decide("E")
    assert (e["offer"], e["expected_value"]) == ("win_back", 4.5)
    assert [a["offer"] for a in e["alternatives"]] == ["win_back", "retention"]
    # A bought mug and bag; mug's rules add seed (price 1) x 10 units x take rate 0.5 = 5 x 0.5 = 2.5.
    a = policy.decide("A")
    assert (a["offer"], a["expected_value"], a["bundle"]) == ("bundle", 2.5, ["seed"])
    assert a["inputs"]["churn_probability"] == 0.1 and a["inputs"]["rfm_segment"] == "Champions"


def test_no_offer_when_nothing_pays(policy):
    # B: 0.5 x 100 x 0.1 = 5 x 0.5 - 10 < 0; the only other offer (bundle) has nothing to bundle.
    b = policy.decide("B")
    assert b["offer"] == NO_OFFER and b["expected_value"] == 0.0
    assert "no offer pays: the best, retention, is worth -7.50 after its cost" in b["reason"]


def test_campaign_spends_its_budget_greedily_by_value_per_cost(policy):
    # Paying offers: C retention 10 for 10 (1.0 per unit of cost), D win_back 3 for 2 (1.5), E 4.5 for 3 (1.5).
    plan, summary = policy.plan("keep")
    assert plan["customer_id"].tolist() == ["E", "D"]  # C (cost 10) does not fit in what is left of 6
    assert summary["customers_reached"] == 2 and summary["left_out_by_budget"] == 1
    assert (summary["expected_cost"], summary["expected_retained_revenue"], summary["expected_net_value"]) == (
        5.0, 25.0, 7.5)
    assert summary["by_offer"] == {"win_back": 2} and "A" not in set(plan["customer_id"])
    bigger, _ = policy.plan("keep", budget=100)
    assert sorted(bigger["customer_id"]) == ["C", "D", "E"]


def test_contact_limits_count_other_campaigns_from_the_decision_log(policy, tmp_path):
    log = DecisionLog(tmp_path)
    log.append([{"campaign": "summer", "customer_id": "E", "offer": "win_back"},
                {"campaign": "summer", "customer_id": "E", "offer": "win_back"},  # planned twice: one campaign
                {"campaign": "keep", "customer_id": "D", "offer": "win_back"},  # this campaign: not counted
                {"campaign": None, "customer_id": "C", "offer": "retention"}])  # an API decision: not a contact
    contacted = log.contacts(30, exclude_campaign="keep")
    assert contacted.to_dict() == {"E": 1}
    plan, summary = policy.plan("keep", contacted=contacted)
    assert plan["customer_id"].tolist() == ["D"] and summary["left_out_by_contact_limit"] == 1
    assert log.contacts(0).empty  # nothing logged in the future


def test_catalogue_errors_name_the_file_and_the_field(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[offers.x]\nkind = "retention"\n')
    with pytest.raises(ValueError, match="bad.toml: offers.x: Value error, an offer of kind 'retention' needs save_rate"):
        OfferCatalogue.read(bad)
    bad.write_text('[offers.x]\nkind = "uplift"\nuplift = 0.1\n\n[campaigns.c]\noffers = ["x", "y"]\nbudget = 5\n')
    with pytest.raises(ValueError, match=r"bad.toml: catalogue: Value error, campaign 'c' names offers \['y'\]"):
        OfferCatalogue.read(bad)
    bad.write_text("[offers.x\n")
    with pytest.raises(ValueError, match="bad.toml: not valid TOML"):
        OfferCatalogue.read(bad)


def test_the_bundled_catalogue_is_valid_and_has_every_offer_type():
    catalogue = OfferCatalogue.read(DEFAULT_CATALOGUE)
    assert {o.kind for o in catalogue.offers.values()} == {"retention", "win_back", "uplift", "cross_sell"}
    assert set(catalogue.offers) >= {"retention_discount", "free_shipping", "cross_sell_bundle", "loyalty_reward",
                                     "win_back"}
