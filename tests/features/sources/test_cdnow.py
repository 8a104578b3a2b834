import pytest

from features import schema as s
from features.sources.cdnow import read_cdnow


def test_sample_layout_reads_into_canonical_orders(tmp_path):
    path = tmp_path / "cdnow.txt"
    path.write_bytes(b" 00004 0001 19970101  2   29.33\r\n 00004 0001 19970118  1   14.96\r\n")
    orders = read_cdnow(path)
    assert orders[s.CUSTOMER_ID].tolist() == ["1", "1"]
    assert orders[s.REVENUE].tolist() == [29.33, 14.96]
    assert orders[s.UNIT_PRICE].iloc[0] == pytest.approx(29.33 / 2)


def test_bad_date_names_the_file_and_line(tmp_path):
    path = tmp_path / "cdnow.txt"
    path.write_text("00004 19970101 2 29.33\n00005 1997013X 1 9.99\n")
    with pytest.raises(ValueError, match=r"cdnow.txt, line 2: date is not valid"):
        read_cdnow(path)
