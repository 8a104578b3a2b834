"""CSV files that are safe to open in a spreadsheet.

A cell that starts with ``=``, ``+``, ``-``, ``@`` (or a tab or carriage return) is read as a
formula by Excel, LibreOffice and Google Sheets, so a customer id or title chosen by anyone
who can place an order could run one on a marketer's machine (CSV injection, OWASP). Text
cells that start so are written with a leading apostrophe, which spreadsheets show as text.
Numbers are left alone: a negative amount is a number, not text.
"""

from __future__ import annotations

import pandas as pd

FORMULA_START = r"^[=+\-@\t\r]"


def defuse_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every text cell that a spreadsheet would run as a formula prefixed by ``'``."""
    out = frame
    for col in frame.columns:
        if frame[col].dtype.kind in "OTU" or isinstance(frame[col].dtype, pd.StringDtype):
            text = frame[col].astype("string")
            risky = text.str.contains(FORMULA_START, regex=True).fillna(False).astype(bool)
            if risky.any():
                out = out.copy() if out is frame else out
                out[col] = frame[col].where(~risky, "'" + text)
    return out
