import pandas as pd

from serving.marketing.spreadsheet import defuse_formulas


def test_text_a_spreadsheet_would_run_as_a_formula_is_written_as_text_and_numbers_stay_numbers():
    frame = pd.DataFrame({"customer_id": ["=HYPERLINK(\"http://x\")", "+1", "-2+3", "@SUM(A1)", "13085", None],
                          "predicted_cltv": [-1.5, 2.0, 3.0, 4.0, 5.0, 6.0]})
    out = defuse_formulas(frame)
    assert out["customer_id"].tolist()[:5] == ["'=HYPERLINK(\"http://x\")", "'+1", "'-2+3", "'@SUM(A1)", "13085"]
    assert pd.isna(out["customer_id"].iloc[5])
    assert out["predicted_cltv"].tolist() == frame["predicted_cltv"].tolist()
    assert frame["customer_id"].iloc[0].startswith("=")  # the caller's frame is not changed
