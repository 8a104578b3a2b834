from pathlib import Path

import pandas as pd
import pytest

from features import schema as s
from features.sources import mapped

EVENTS_CSV = """\
id,visitor,sess,sku,action,ts,qty
1,u1,s1,A,pageview,2011-01-01 10:00:00,
2,u1,s1,A,addtocart,2011-01-01 10:01:00,1
2,u1,s1,A,addtocart,2011-01-01 10:01:00,1
3,,,B,pageview,2011-01-01 10:02:00,
4,u2,s2,B,click,2011-01-01 10:02:00,
5,u2,s2,,pageview,2011-01-01 10:02:00,
6,u2,s2,C,pageview,2031-01-01 10:02:00,
7,u2,s2,C,pageview,yesterday,
8,u2,s2,C,addtocart,2011-01-01 10:02:00,-1
9,,s9,,search,2011-01-01,
10,u3,,C,view,2011-01
"""

EVENTS_TOML = """\
table = "events"
[columns]
event_id = "id"
user_id = "visitor"
session_id = "sess"
item_id = "sku"
event_type = "action"
timestamp = "ts"
quantity = "qty"
[values.event_type]
pageview = "view"
addtocart = "add_to_cart"
"""

NOW = pd.Timestamp("2026-01-01")


@pytest.fixture
def events_file(tmp_path):
    (tmp_path / "events.csv").write_text(EVENTS_CSV)
    (tmp_path / "events.toml").write_text(EVENTS_TOML)
    return tmp_path / "events.csv", mapped.Mapping.read(tmp_path / "events.toml")


def test_event_log_rows_are_accepted_or_rejected_with_their_reason(events_file):
    path, mapping = events_file
    events, rejects, report = mapped.load(path, mapping, now=NOW)

    assert report.rows_read == 11
    assert report.accepted + sum(report.rejected.values()) == report.rows_read
    assert events[s.EVENT_ID].tolist() == ["1", "2", "9"]
    assert events[s.EVENT_TYPE].tolist() == ["view", "add_to_cart", "search"]
    assert events[s.TIMESTAMP].tolist() == [pd.Timestamp("2011-01-01 10:00"), pd.Timestamp("2011-01-01 10:01"),
                                            pd.Timestamp("2011-01-01")]
    assert not events[s.SIMULATED].any()
    by_row = dict(zip(rejects[s.SOURCE_ROW], rejects[s.REASON], strict=True))
    assert by_row == {
        2: "duplicate_event_id", 3: "missing_user_and_session", 4: "unknown_event_type",
        5: "missing_item_id", 6: "timestamp_out_of_range", 7: "bad_timestamp",
        8: "non_positive_quantity", 10: "malformed_row",
    }
    # The broken (truncated) last line is kept as it was read.
    assert rejects.loc[rejects[s.REASON] == "malformed_row", "_raw_line"].item() == "10,u3,,C,view,2011-01"
    s.EVENTS.validate(events, "test")


def test_reimporting_the_same_file_gives_the_same_table(events_file):
    path, mapping = events_file
    first = mapped.load(path, mapping, now=NOW)[0]
    second = mapped.load(path, mapping, now=NOW)[0]
    pd.testing.assert_frame_equal(first, second)


def test_events_without_an_id_column_get_content_ids_that_catch_repeats(tmp_path):
    (tmp_path / "e.csv").write_text("u,i,t,ts\nu1,A,view,2011-01-01\nu1,A,view,2011-01-01\nu1,B,view,2011-01-01\n")
    mapping = mapped.Mapping.from_dict({"table": "events", "columns": {
        "user_id": "u", "item_id": "i", "event_type": "t", "timestamp": "ts"}})
    events, _, report = mapped.load(tmp_path / "e.csv", mapping, now=NOW)
    assert report.rejected == {"duplicate_event_id": 1}
    assert events[s.ITEM_ID].tolist() == ["A", "B"]
    assert events[s.EVENT_ID].str.fullmatch(r"h[0-9a-f]{16}").all()


def test_yaml_mapping_of_an_orders_export_with_a_returns_column_and_defaults(tmp_path):
    (tmp_path / "orders.csv").write_text(
        "no;who;sku;n;each;when;status\n"
        "A1;c1;X;2;3,5;01/02/2011 10:00;paid\n"
        "A2;c1;X;2;3,5;02/02/2011 10:00;returned\n"
        "A3;c2;Y;-1;1,0;03/02/2011 10:00;paid\n"
        "A4;c2;Y;0;1,0;03/02/2011 10:00;paid\n".replace(",", "."))
    (tmp_path / "orders.yaml").write_text(
        "table: orders\ndelimiter: ';'\ntimestamp_format: '%d/%m/%Y %H:%M'\n"
        "columns: {order_id: 'no', customer_id: who, item_id: sku, quantity: n, unit_price: each, timestamp: when}\n"
        "defaults: {country: Germany}\nreturns: {column: status, values: [returned]}\n")
    orders, rejects, report = mapped.load(tmp_path / "orders.csv", mapped.Mapping.read(tmp_path / "orders.yaml"),
                                          now=NOW)
    assert orders[s.ORDER_ID].tolist() == ["A1", "A2"]
    assert orders[s.IS_RETURN].tolist() == [False, True]
    # A return's quantity and revenue are negative whatever sign the export used.
    assert orders[s.REVENUE].tolist() == [7.0, -7.0]
    assert orders[s.TIMESTAMP].iloc[0] == pd.Timestamp("2011-02-01 10:00")
    assert set(orders[s.COUNTRY]) == {"Germany"}
    assert report.rejected == {"negative_quantity_on_sale": 1, "zero_quantity": 1}
    s.ORDERS.validate(orders, "test")
    # Rejected rows name the customer the workspace's way too (column "who" here), so a
    # forget finds them.
    assert rejects[s.CUSTOMER_ID].tolist() == ["c2", "c2"] and "who" in rejects.columns


def test_parquet_catalogue_with_stock_levels(tmp_path):
    pd.DataFrame({"sku": ["A", "B", "A"], "name": ["a", "", "again"], "stock": [3, 0, 1],
                  "cost": [1.0, 2.0, 3.0]}).to_parquet(tmp_path / "items.parquet")
    mapping = mapped.Mapping.from_dict({"table": "items", "columns": {
        "item_id": "sku", "title": "name", "stock_level": "stock", "price": "cost"}})
    items, rejects, report = mapped.load(tmp_path / "items.parquet", mapping, now=NOW)
    assert items.to_dict("list") | {s.FIRST_SEEN: None} == {
        s.ITEM_ID: ["A", "B"], s.TITLE: ["a", "B"], s.CATEGORY: ["", ""], s.PRICE: [1.0, 2.0],
        s.IN_STOCK: [True, False], s.FIRST_SEEN: None}
    assert report.rejected == {"duplicate_item_id": 1}


def test_missing_column_error_names_the_file_the_field_and_the_columns_found(events_file, tmp_path):
    path, _ = events_file
    mapping = mapped.Mapping.read(tmp_path / "events.toml")
    mapping.columns["user_id"] = "visitor_id"
    with pytest.raises(ValueError, match=r"events\.csv: column\(s\) named in .*events\.toml not found: "
                                         r"\[\"user_id -> 'visitor_id'\"\]; the file has \['id', 'visitor'"):
        mapped.load(path, mapping)


ORDERS_MAPPING = {"table": "orders", "columns": {
    "order_id": "o", "customer_id": "c", "item_id": "i", "quantity": "q", "unit_price": "p", "timestamp": "t"}}


def test_a_column_of_the_wrong_type_is_a_mapping_error_with_examples(tmp_path):
    (tmp_path / "o.csv").write_text("o,c,i,q,p,t\n1,a,x,one,1.0,2011-01-01\n2,a,x,two,1.0,2011-01-01\n")
    mapping = mapped.Mapping.from_dict(ORDERS_MAPPING)
    with pytest.raises(ValueError, match=r"o\.csv: field 'quantity' \(column 'q'\): 2 of 2 values cannot be "
                                         r"read as a whole number, e\.g\. row 0: 'one', row 1: 'two'"):
        mapped.load(tmp_path / "o.csv", mapping)


def test_an_unreadable_quantity_or_price_sets_its_row_aside_with_the_reason(tmp_path):
    (tmp_path / "o.csv").write_text("o,c,i,q,p,t\n1,a,x,2,3.5,2011-01-05\n2,a,x,x,3.5,2011-01-06\n"
                                    '3,b,y,1,"1,234.50",2011-01-07\n4,b,y,-1,3.5,2011-01-08\n')
    orders, rejects, report = mapped.load(tmp_path / "o.csv", mapped.Mapping.from_dict(ORDERS_MAPPING), now=NOW)
    assert orders[s.ORDER_ID].tolist() == ["1", "4"] and orders[s.IS_RETURN].tolist() == [False, True]
    assert report.rejected == {"bad_quantity": 1, "bad_unit_price": 1}
    assert rejects["reason"].tolist() == ["bad_quantity", "bad_unit_price"]


def test_dates_no_table_can_hold_set_their_rows_aside_in_csv_and_parquet(tmp_path):
    (tmp_path / "o.csv").write_text("o,c,i,q,p,t\n1,a,x,1,1.0,2011-01-05\n2,a,x,1,1.0,0000-00-00\n"
                                    "3,a,x,1,1.0,9999-12-31\n4,a,x,1,1.0,2011-01-06\n")
    orders, _, report = mapped.load(tmp_path / "o.csv", mapped.Mapping.from_dict(ORDERS_MAPPING), now=NOW)
    assert orders[s.ORDER_ID].tolist() == ["1", "4"] and report.rejected == {"bad_timestamp": 2}
    pd.DataFrame({"o": ["1", "2"], "c": "a", "i": "x", "q": 1, "p": 1.0,
                  "t": pd.Series([pd.Timestamp("2011-01-05"), pd.Timestamp("3000-01-01")], dtype="datetime64[us]")}
                 ).to_parquet(tmp_path / "o.parquet")
    orders, _, report = mapped.load(tmp_path / "o.parquet", mapped.Mapping.from_dict(ORDERS_MAPPING), now=NOW)
    assert orders[s.ORDER_ID].tolist() == ["1"] and report.rejected == {"bad_timestamp": 1}


@pytest.mark.parametrize("dates, read", [
    # A UK export: 05/01 is the 5th of January once 13/01 shows the days come first.
    (["05/01/2023 10:00", "13/01/2023 09:30", "02/03/2023 08:00"], ["2023-01-05", "2023-01-13", "2023-03-02"]),
    (["01/05/2023 10:00", "01/13/2023 09:30", "03/02/2023 08:00"], ["2023-01-05", "2023-01-13", "2023-03-02"]),
    (["05/01/2023", "06/01/2023"], ["2023-05-01", "2023-06-01"]),  # either way: month first, pandas' default
    (["2023-01-05", "2023-01-13"], ["2023-01-05", "2023-01-13"]),
])
def test_dates_are_read_day_or_month_first_as_the_files_values_show(tmp_path, dates, read):
    rows = "".join(f"{n},a,x,1,1.0,{d}\n" for n, d in enumerate(dates))
    (tmp_path / "o.csv").write_text("o,c,i,q,p,t\n" + rows)
    orders, _, _ = mapped.load(tmp_path / "o.csv", mapped.Mapping.from_dict(ORDERS_MAPPING), now=NOW)
    assert orders[s.TIMESTAMP].dt.strftime("%Y-%m-%d").tolist() == read


def test_dates_written_both_ways_or_turning_day_first_late_ask_for_a_timestamp_format(tmp_path):
    mapping = mapped.Mapping.from_dict(ORDERS_MAPPING)
    (tmp_path / "both.csv").write_text("o,c,i,q,p,t\n1,a,x,1,1.0,13/01/2023\n2,a,x,1,1.0,01/14/2023\n")
    with pytest.raises(ValueError, match=r"both\.csv: field 'timestamp' \(column 't'\) has dates written day "
                                         r"first \(e\.g\. '13/01/2023'\) and month first \(e\.g\. '01/14/2023'\); "
                                         r"set timestamp_format"):
        mapped.load(tmp_path / "both.csv", mapping, now=NOW)
    rows = "".join(f"{n},a,x,1,1.0,0{n % 9 + 1}/01/2023\n" for n in range(40)) + "40,a,x,1,1.0,13/01/2023\n"
    (tmp_path / "late.csv").write_text("o,c,i,q,p,t\n" + rows)
    with pytest.raises(ValueError, match=r"day first from row 40 \(e\.g\. '13/01/2023'\), but the \d+ rows before "
                                         r"this part .* read month first; set timestamp_format"):
        list(mapped.load_parts(tmp_path / "late.csv", mapping, NOW, part_bytes=400))
    timed = mapped.Mapping.from_dict({**ORDERS_MAPPING, "timestamp_format": "%d/%m/%Y"})
    assert len(mapped.load(tmp_path / "late.csv", timed, now=NOW)[0]) == 41


@pytest.mark.parametrize("data, error", [
    ({"table": "sales"}, r"'table' is 'sales'; expected one of"),
    ({"table": "orders", "columns": {"order_id": "o"}}, r"needs a source column for \['customer_id'"),
    ({"table": "events", "columns": {"user": "u"}}, r"\[columns\] names unknown field\(s\) \['user'\]"),
    ({"table": "events", "colums": {}}, r"unknown key\(s\) \['colums'\]"),
    ({"table": "orders", "columns": {"order_id": False}}, r"got \{'order_id': False\}; quote them"),
])
def test_mapping_mistakes_are_named(data, error):
    with pytest.raises(ValueError, match=error):
        mapped.Mapping.from_dict(data, "m.toml")


def test_empty_wrong_encoding_and_corrupt_files_get_clear_errors(tmp_path, events_file):
    _, mapping = events_file
    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises(ValueError, match="empty.csv: file is empty"):
        mapped.load(tmp_path / "empty.csv", mapping)
    (tmp_path / "latin.csv").write_bytes(EVENTS_CSV.replace("yesterday", "caf\xe9").encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin\.csv, line 9: not utf-8 text"):
        mapped.load(tmp_path / "latin.csv", mapping)
    mapping.encoding = "latin-1"
    assert mapped.load(tmp_path / "latin.csv", mapping, now=NOW)[2].rejected["bad_timestamp"] == 1
    pd.DataFrame({"a": range(1000)}).to_parquet(tmp_path / "cut.parquet")
    data = (tmp_path / "cut.parquet").read_bytes()
    (tmp_path / "cut.parquet").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"cut\.parquet: not a readable Parquet file"):
        mapped.load(tmp_path / "cut.parquet", mapping)


EXAMPLES = Path(__file__).resolve().parents[3] / "data" / "examples"


def test_the_documented_example_event_export_loads_cleanly():
    events, rejects, report = mapped.load(EXAMPLES / "shop_events.csv",
                                          mapped.Mapping.read(EXAMPLES / "shop_events.toml"), now=NOW)
    assert report.rejected == {} and len(events) == 8
    assert events[s.EVENT_TYPE].tolist() == ["view", "add_to_cart", "view", "view", "add_to_cart",
                                             "remove_from_cart", "search", "wishlist"]
    assert events[s.TIMESTAMP].iloc[1] == pd.Timestamp("2011-12-01 10:02:10")
    assert (events[s.USER_ID] == "").sum() == 3  # the anonymous visit


def test_the_documented_example_catalogue_loads_with_decimal_commas_and_day_first_dates():
    items, _, report = mapped.load(EXAMPLES / "shop_catalogue.csv",
                                   mapped.Mapping.read(EXAMPLES / "shop_catalogue.yaml"), now=NOW)
    assert report.rejected == {}
    assert items[s.PRICE].tolist() == [8.10, 7.90, 3.45]
    assert items[s.IN_STOCK].tolist() == [True, False, True]
    assert items[s.FIRST_SEEN].tolist() == [pd.Timestamp(d) for d in ("2009-09-01", "2009-10-15", "2009-11-02")]


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_large_file_loaded_a_part_at_a_time_gives_what_one_read_gives(events_file, tmp_path, suffix):
    _, mapping = events_file
    body = EVENTS_CSV.splitlines()[1:]
    rows = []
    for copy in range(6):  # each copy's first id repeats the first copy's, in a later part
        for line in body:
            event_id, rest = line.split(",", 1)
            rows.append(f"{event_id if event_id == '1' else f'{copy}-{event_id}'},{rest}")
    rows.insert(20, '99,"u\n2",s2,C,pageview,2011-01-01 10:03:00,')  # a quoted value over two lines
    text = EVENTS_CSV.splitlines()[0] + "\n" + "\n".join(rows) + "\n"
    path = tmp_path / f"big{suffix}"
    if suffix == ".csv":
        path.write_text(text)
    else:
        (tmp_path / "big.csv").write_text(text)
        pd.read_csv(tmp_path / "big.csv", dtype=str, keep_default_na=False).to_parquet(path)

    whole_table, whole_rejects, whole_report = mapped.load(path, mapping, now=NOW)
    parts = list(mapped.load_parts(path, mapping, NOW, part_bytes=400))
    tables, rejects, reports = zip(*parts, strict=True)

    assert len(parts) >= 3
    pd.testing.assert_frame_equal(pd.concat(tables, ignore_index=True), whole_table)
    together = pd.concat(rejects, ignore_index=True)
    assert together[s.SOURCE_ROW].tolist() == whole_rejects[s.SOURCE_ROW].tolist()
    assert together[s.REASON].tolist() == whole_rejects[s.REASON].tolist()
    # Each copy repeats id 2 within itself, and copies 1-5 repeat the first copy's id 1.
    assert (together[s.REASON] == "duplicate_event_id").sum() == 6 + 5
    merged = mapped.ImportReport.merged(list(reports))
    assert merged.as_dict() == whole_report.as_dict()
    assert list(merged.rejected) == list(whole_report.rejected)
    if suffix == ".csv":
        assert together["_raw_line"].dropna().tolist() == whole_rejects["_raw_line"].dropna().tolist()
        assert len(together["_raw_line"].dropna()) == 6


def test_a_rows_content_id_does_not_depend_on_the_other_rows_having_ids(tmp_path):
    mapping = mapped.Mapping.from_dict({"table": "events", "columns": {
        "event_id": "id", "user_id": "u", "item_id": "i", "event_type": "t", "timestamp": "ts"}})
    rows = ["u1,A,view,2011-01-01", "u1,B,view,2011-01-01", "u2,B,add_to_cart,2011-01-02 10:00"]
    (tmp_path / "none.csv").write_text("id,u,i,t,ts\n" + "".join(f",{r}\n" for r in rows))
    (tmp_path / "some.csv").write_text(f"id,u,i,t,ts\n,{rows[0]}\n7,{rows[1]}\n,{rows[2]}\n")
    none = mapped.load(tmp_path / "none.csv", mapping, now=NOW)[0][s.EVENT_ID].tolist()
    some = mapped.load(tmp_path / "some.csv", mapping, now=NOW)[0][s.EVENT_ID].tolist()
    assert some == [none[0], "7", none[2]]


# Cells a shop's export might hold in any column: blanks, words, numbers of every shape,
# dates in several layouts and out of every range, other scripts.
ODD_CELLS = ["", " ", "x", "1", "-1", "0", "2.5", "1e400", "nan", "inf", "-0", "1,5", "١٢", "NULL",
             "2023-01-05", "2023-13-45", "0000-00-00", "05/01/2023", "13/01/2023", "01/13/2023", "1700000000",
             "2023-01-05T10:00:00Z", "2023-01-05 10:00:00+05:30", "true", "view", "purchase", "9" * 30, "é",
             'a"b', "2262-05-01", "99999-01-01", "12/31/1899"]


@pytest.mark.filterwarnings("ignore:Could not infer format")  # pandas, on dates of no one layout: the point
@pytest.mark.parametrize("table", list(mapped.FIELDS))
def test_files_of_random_cells_load_or_stop_with_a_message_naming_the_file(tmp_path, table):
    import random

    rng = random.Random(table)
    fields = list(mapped.FIELDS[table])
    for trial in range(60):
        path = tmp_path / f"{trial}.csv"
        rows = [",".join('"' + rng.choice(ODD_CELLS).replace('"', '""') + '"' for _ in fields)
                for _ in range(rng.randint(1, 8))]
        path.write_text("\n".join([",".join(fields), *rows]) + "\n")
        layout = rng.choice([None, None, "%d/%m/%Y", "unix_s", "ISO8601"])
        mapping = mapped.Mapping.from_dict({"table": table, "columns": {f: f for f in fields},
                                            **({"timestamp_format": layout} if layout else {})})
        try:
            loaded, rejects, report = mapped.load(path, mapping, now=NOW)
        except ValueError as exc:  # a mapping-level problem, said about this file
            assert str(exc).startswith(str(path)), str(exc)
            continue
        assert len(loaded) + len(rejects) == len(rows)
