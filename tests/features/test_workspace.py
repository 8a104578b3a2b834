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
