import pandas as pd
import pytest

from features import schema as s
from features.sources import online_retail


def test_every_row_read_is_accepted_or_set_aside_with_its_reason(raw_lines):
    orders, rejects, report = online_retail.load_orders(raw_lines, "fixture.csv")

    assert report.rows_read == 11
    assert report.accepted + sum(report.rejected.values()) == report.rows_read
    assert len(orders) == report.accepted == 4
    assert report.rejected == {
        "unparseable_timestamp": 1, "unparseable_quantity": 1, "guest_checkout": 1,
        "non_product_code": 1, "non_positive_price": 1, "non_positive_quantity_on_sale": 1,
        "duplicate_line": 1,
    }
    assert sorted(rejects[s.SOURCE_ROW]) == [2, 4, 5, 6, 7, 8, 9]
    assert rejects.set_index(s.SOURCE_ROW).loc[5, "StockCode"] == "POST"


def test_cancellations_are_kept_as_marked_returns_with_negative_revenue(raw_lines):
    orders, _, report = online_retail.load_orders(raw_lines, "fixture.csv")

    ret = orders[orders[s.IS_RETURN]]
    assert ret[s.ORDER_ID].tolist() == ["C489449"]
    assert ret[s.REVENUE].tolist() == [-12 * 2.95]
    assert "1 accepted lines are returns" in report.notes[0]


def test_float_customer_ids_become_the_retailers_string_ids(raw_lines):
    orders, _, _ = online_retail.load_orders(raw_lines, "fixture.csv")
    assert set(orders[s.CUSTOMER_ID]) == {"13085", "16321", "12682"}


def test_csv_and_parquet_exports_load_to_the_same_orders(raw_lines, tmp_path):
    raw_lines.to_csv(tmp_path / "lines.csv", index=False)
    raw_lines.to_parquet(tmp_path / "lines.parquet", index=False)
    from_csv = online_retail.load_orders(online_retail.read_raw(tmp_path / "lines.csv"), "a")[0]
    from_pq = online_retail.load_orders(online_retail.read_raw(tmp_path / "lines.parquet"), "b")[0]
    pd.testing.assert_frame_equal(from_csv, from_pq)


def test_workbook_overlap_between_sheets_is_counted_once(raw_lines, tmp_path):
    ok = raw_lines.iloc[[0, 1, 10]]
    later = ok.assign(InvoiceDate="2009-12-02 09:00:00", Invoice="489500")
    path = tmp_path / "online_retail_II.xlsx"
    with pd.ExcelWriter(path) as xl:
        ok.to_excel(xl, sheet_name="Year 2009-2010", index=False)
        # The second sheet repeats the first sheet's last day, then goes on.
        pd.concat([ok, later]).to_excel(xl, sheet_name="Year 2010-2011", index=False)
    raw = online_retail.read_raw(path)
    assert len(raw) == 6


def test_missing_column_error_names_the_file_and_the_column(raw_lines, tmp_path):
    path = tmp_path / "export.csv"
    raw_lines.drop(columns=["Price"]).to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"export\.csv: missing column\(s\) \['Price'\]"):
        online_retail.read_raw(path)


def test_empty_file_and_wrong_encoding_get_clear_errors(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="empty.csv: file is empty"):
        online_retail.read_raw(empty)
    latin = tmp_path / "latin1.csv"
    latin.write_bytes(",".join(online_retail.RAW_COLUMNS).encode() + "\n1,2,caf\xe9,1,2010-01-01,1,1,UK\n".encode("latin-1"))
    with pytest.raises(ValueError, match="latin1.csv, line 2: not utf-8 text"):
        online_retail.read_raw(latin)
    # The same byte in a row with a field too many: pyarrow could not hand that row over to
    # be kept as a reject, and called it a parse error.
    wide = tmp_path / "wide.csv"
    wide.write_bytes(",".join(online_retail.RAW_COLUMNS).encode() + b"\n1,2,a,1,2010-01-01,1,1,UK\n"
                     + "1,2,caf\xe9,1,2010-01-01,1,1,UK,extra\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"wide.csv, line 3: not utf-8 text \(b'1,2,caf\\xe9,1,.*,extra'\)"):
        online_retail.read_raw(wide)
    # In the header itself: the line is named, rather than "no header row".
    header = tmp_path / "header.csv"
    header.write_bytes(",".join(online_retail.RAW_COLUMNS).replace("Country", "Pa\xefs").encode("latin-1")
                       + b"\n1,2,a,1,2010-01-01,1,1,UK\n")
    with pytest.raises(ValueError, match=r"header.csv, line 1: not utf-8 text \(b'Invoice,.*Pa\\xefs'\)"):
        online_retail.read_raw(header)


def test_item_title_is_its_most_frequent_description(orders):
    orders = orders.copy()
    orders.loc[orders[s.ITEM_ID] == "x", s.TITLE] = ["Lamp", "Lamp", "lamp!", "Lamp"]
    items = online_retail.build_items(orders).set_index(s.ITEM_ID)
    assert items.loc["x", s.TITLE] == "Lamp"
    assert items.loc["y", s.PRICE] == 5.0
