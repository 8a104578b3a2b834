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
    with pytest.raises(ValueError, match="bad.toml: offers.x: an offer of kind 'retention' needs save_rate"):
        OfferCatalogue.read(bad)
    bad.write_text('[offers.x]\nkind = "uplift"\nuplift = 0.1\n\n[campaigns.c]\noffers = ["x", "y"]\nbudget = 5\n')
    with pytest.raises(ValueError, match=r"bad.toml: catalogue: campaign 'c' names offers \['y'\]"):
        OfferCatalogue.read(bad)
    bad.write_text("[offers.x\n")
    with pytest.raises(ValueError, match="bad.toml: not valid TOML"):
        OfferCatalogue.read(bad)
    with pytest.raises(ValueError, match="missing.toml: no such file; an offer catalogue is a TOML file"):
        OfferCatalogue.read(bad.with_name("missing.toml"))


def test_the_bundled_catalogue_is_valid_and_has_every_offer_type():
    catalogue = OfferCatalogue.read(DEFAULT_CATALOGUE)
    assert {o.kind for o in catalogue.offers.values()} == {"retention", "win_back", "uplift", "cross_sell"}
    assert set(catalogue.offers) >= {"retention_discount", "free_shipping", "cross_sell_bundle", "loyalty_reward",
                                     "win_back"}


def test_without_a_draw_the_best_offer_is_taken_with_certainty(policy):
    c = policy.decide("C")
    assert (c["offer"], c["propensity"], c["explored"]) == ("retention", 1.0, False)


def test_a_draw_below_the_exploration_rate_takes_an_open_action_at_random_and_says_so(policy):
    # E may get win_back (best), retention or no offer: 0.95 + 0.05 / 3 for the best, 0.05 / 3 each other.
    assert policy.catalogue.policy.exploration == 0.05
    best = policy.decide("E", draw=0.5)
    assert (best["offer"], best["explored"]) == ("win_back", False)
    assert best["propensity"] == pytest.approx(0.95 + 0.05 / 3, abs=1e-6)
    taken = {policy.decide("E", draw=d)["offer"]: policy.decide("E", draw=d) for d in (0.001, 0.02, 0.04)}
    assert set(taken) == {"win_back", "retention", NO_OFFER}
    other = taken["retention"]
    assert other["explored"] and other["propensity"] == pytest.approx(0.05 / 3, abs=1e-6)
    assert other["reason"].startswith("explored: taken at random among 3 open actions (exploration rate 0.05) "
                                      "instead of win_back; retention:")
    assert taken[NO_OFFER]["expected_value"] == 0.0


def test_a_candidate_catalogue_is_valued_on_the_logged_decisions(policy, tmp_path):
    from features.live.sqlite_store import SQLiteLiveStore
    from serving.marketing.offer_evaluation import evaluate_policy

    as_of = policy.base.as_of.date().isoformat()
    store = SQLiteLiveStore(tmp_path / "live.sqlite")
    records = [{"logged_at": "2026-12-01T10:00:00+00:00", "source": "api", "campaign": None, "customer_id": c,
                "offer": offer, "propensity": p, "recommendation_id": f"r-{c}", "as_of": as_of}
               for c, offer, p in (("C", "retention", 0.9), ("E", "win_back", 0.6), ("A", "bundle", 0.9))]
    records.append({**records[0], "customer_id": "B", "recommendation_id": "r-B", "as_of": "2001-01-01"})
    store.append_events([{"event_id": "p1", "user_id": "E", "session_id": None, "item_id": "mug",
                          "event_type": "purchase", "timestamp": "2026-12-02T10:00:00", "price": 30.0,
                          "quantity": 1.0, "recommendation_id": "r-E"}])
    candidate = tmp_path / "candidate.toml"
    candidate.write_text(CATALOGUE.replace("cost_fixed = 10.0", "cost_fixed = 30.0"))  # C's retention no longer pays
    got = evaluate_policy(policy, records, store, candidate, "2026-11-30")
    assert got.decisions.set_index("customer_id")[["action", "reward", "candidate"]].to_dict("index") == {
        "C": {"action": "retention", "reward": 0.0, "candidate": NO_OFFER},
        "E": {"action": "win_back", "reward": 30.0, "candidate": "win_back"},
        "A": {"action": "bundle", "reward": 0.0, "candidate": "bundle"}}
    # E's purchase, weighted by 1 / 0.6, over three decisions; C's "no offer" was never logged.
    assert got.estimates["ips"].value == pytest.approx(30.0 / 0.6 / 3)
    assert got.estimates["ips"].matched == 2 and got.unseen_actions == {NO_OFFER: 1}
    assert got.estimates["logged"].value == pytest.approx(10.0)
    assert got.left_out == {f"decided with scores as of 2001-01-01, not {as_of}": 1}
    with pytest.raises(ValueError, match="no POST /offers decision logged since 2027-01-01"):
        evaluate_policy(policy, records, store, candidate, "2027-01-01")
