import pandas as pd
import pytest

from features.workspace import Workspace
from tests.conftest import make_events


def test_a_table_written_a_part_at_a_time_reads_back_whole_without_forgotten_customers(tmp_path, monkeypatch):
    ws = Workspace(tmp_path)
    monkeypatch.setattr(ws, "forgotten_ids", lambda: {"c2"})
    parts = [make_events([("c1", "s1", "i1", "view", "2011-01-01")]),
             make_events([("c2", "s2", "i1", "view", "2011-01-02"), ("c3", "s3", "i2", "view", "2011-01-03")])]

    path, rows = ws.write_table_parts("events", iter(parts), "test parts")

    back = pd.read_parquet(path)
    assert rows == 2 and back["user_id"].tolist() == ["c1", "c3"]
    assert ws.table_sources()["events"]["rows"] == 2 and ws.table_sources()["events"]["source"] == "test parts"
    with pytest.raises(ValueError, match="no parts"):
        ws.write_table_parts("events", iter([]), "nothing")
    assert len(pd.read_parquet(path)) == 2  # the table before stays


def test_an_empty_first_part_does_not_fix_the_types_of_the_parts_after_it(tmp_path):
    ws = Workspace(tmp_path)
    rows = make_events([("c1", "s1", "i1", "view", "2011-01-01")])
    empty = rows.iloc[:0].astype({c: object for c in rows.columns if rows[c].dtype == "str"})

    path, n = ws.write_table_parts("events", iter([empty, rows]), "parts")

    assert n == 1 and pd.read_parquet(path)["user_id"].tolist() == ["c1"]
    path, n = ws.write_table_parts("events", iter([empty]), "nothing accepted")
    assert n == 0 and pd.read_parquet(path).columns.tolist() == rows.columns.tolist()


def test_a_part_that_fails_leaves_the_table_as_it_was(tmp_path):
    ws = Workspace(tmp_path)
    rows = make_events([("c1", "s1", "i1", "view", "2011-01-01")])
    ws.write_table("events", rows, "before")

    def parts():
        yield rows
        raise ValueError("a column failed in the second part")

    with pytest.raises(ValueError, match="second part"):
        ws.write_table_parts("events", parts(), "after")
    assert ws.table_sources()["events"]["source"] == "before"
    assert not list(ws.tables.glob("*.tmp"))


def test_features_from_events_read_as_codes_are_the_features_from_their_strings(tmp_path, small_shop):
    from features.customer_features import EVENT_COLUMNS, History, build_customer_features
    from features.interactions import InteractionWeights, build_interactions
    from features.item_features import build_item_features
    from features.sources.simulate import simulate_events

    ws = Workspace(tmp_path)
    ws.write_table("events", simulate_events(small_shop), "simulated")
    coded, plain = ws.read_events(EVENT_COLUMNS), ws.read_table("events")[EVENT_COLUMNS]
    assert isinstance(coded["session_id"].dtype, pd.CategoricalDtype)
    orders = small_shop.assign(timestamp=small_shop["timestamp"].astype(plain["timestamp"].dtype))
    as_of = pd.Timestamp("2011-03-01")

    pd.testing.assert_frame_equal(build_customer_features(History(orders, coded), as_of),
                                  build_customer_features(History(orders, plain), as_of))
    pd.testing.assert_frame_equal(build_item_features(orders, as_of, None, coded),
                                  build_item_features(orders, as_of, None, plain))
    (m1, u1, i1), (m2, u2, i2) = (build_interactions(orders, as_of, e, InteractionWeights()) for e in (coded, plain))
    assert (m1 != m2).nnz == 0 and list(u1.ids) == list(u2.ids) and list(i1.ids) == list(i2.ids)
