import pandas as pd

from features import schema as s
from features.sources.simulate import SimulationParams, funnel, simulate_events


def test_same_seed_same_events_other_seed_other_events(small_shop):
    a = simulate_events(small_shop, SimulationParams(seed=1))
    pd.testing.assert_frame_equal(a, simulate_events(small_shop, SimulationParams(seed=1)))
    assert not a.equals(simulate_events(small_shop, SimulationParams(seed=2)))


def test_events_are_marked_simulated_and_fit_the_event_schema(small_shop):
    events = simulate_events(small_shop)
    s.EVENTS.validate(events, "test")
    assert events[s.SIMULATED].all()
    assert set(events[s.EVENT_TYPE]) == {"view", "add_to_cart", "remove_from_cart"}
    assert events[s.EVENT_ID].is_unique
    assert events[s.TIMESTAMP].is_monotonic_increasing
    assert events[s.TIMESTAMP].min() >= small_shop[s.TIMESTAMP].min() - pd.Timedelta(hours=2)
    assert events[s.TIMESTAMP].max() <= small_shop[s.TIMESTAMP].max() + pd.Timedelta(hours=2)


def test_every_bought_line_was_viewed_and_carted_before_its_order(small_shop):
    events = simulate_events(small_shop)
    first_order = small_shop.groupby([s.CUSTOMER_ID, s.ITEM_ID])[s.TIMESTAMP].min()
    for kind in ("view", "add_to_cart"):
        seen = events[events[s.EVENT_TYPE] == kind].groupby([s.USER_ID, s.ITEM_ID])[s.TIMESTAMP].min()
        before = seen.reindex(first_order.index)
        assert (before <= first_order).all(), kind


def test_removals_follow_a_cart_add_in_the_same_session(small_shop):
    events = simulate_events(small_shop)
    key = [s.SESSION_ID, s.ITEM_ID]
    added = events[events[s.EVENT_TYPE] == "add_to_cart"].groupby(key)[s.TIMESTAMP].min()
    removed = events[events[s.EVENT_TYPE] == "remove_from_cart"].groupby(key)[s.TIMESTAMP].min()
    assert len(removed) > 0
    assert (added.reindex(removed.index) <= removed).all()


def test_funnel_has_anonymous_sessions_and_browsing_that_does_not_convert(small_shop):
    rates = funnel(simulate_events(small_shop), small_shop)
    assert 0.1 < rates["anonymous_session_share"] < 0.4
    assert rates["views_per_order_line"] > 2
    assert 0 < rates["view_to_cart"] < 0.6
    assert 0.5 < rates["cart_to_purchase"] < 1


def test_a_large_shop_is_simulated_a_group_of_customers_at_a_time(small_shop):
    from features.sources.simulate import COLUMNS, funnel_counts, funnel_rates, simulate_event_parts

    sales_lines = int((~small_shop[s.IS_RETURN]).sum())
    # A shop of up to `whole_lines` lines: one part, the very events of simulate_events, from
    # the columns the command reads.
    whole = list(simulate_event_parts(small_shop[COLUMNS], SimulationParams(seed=3), part_lines=sales_lines // 3))
    assert len(whole) == 1
    pd.testing.assert_frame_equal(whole[0], simulate_events(small_shop, SimulationParams(seed=3)))

    parts = list(simulate_event_parts(small_shop, SimulationParams(seed=3), part_lines=sales_lines // 3,
                                      whole_lines=sales_lines - 1))
    assert len(parts) in (3, 4)
    users = [set(p.loc[p[s.USER_ID] != "", s.USER_ID]) for p in parts]
    assert all(not a & b for i, a in enumerate(users) for b in users[i + 1:])  # a customer in one part
    assert set().union(*users) == set(small_shop[s.CUSTOMER_ID])
    events = pd.concat(parts, ignore_index=True)
    assert events[s.EVENT_ID].is_unique and events[s.SESSION_ID].nunique() == sum(
        p[s.SESSION_ID].nunique() for p in parts)
    s.EVENTS.validate(events, "test")
    for p in parts:
        assert p[s.TIMESTAMP].is_monotonic_increasing
    pd.testing.assert_frame_equal(parts[1], list(simulate_event_parts(
        small_shop, SimulationParams(seed=3), part_lines=sales_lines // 3, whole_lines=0))[1])  # seeded per part
    # The funnel of the parts is the funnel of their events together.
    total = sum((funnel_counts(p) for p in parts), start=funnel_counts(parts[0].iloc[:0]))
    assert funnel_rates(total, small_shop) == funnel(events, small_shop)
