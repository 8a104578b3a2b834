"""Loader for the CDNOW purchase logs distributed by Bruce Hardie.

Fader, Hardie & Lee (2005) use them to fit the BG/NBD model; each record is one purchase
(customer, date, number of CDs, dollar value). Both layouts are read: the master file
(id, date, CDs, value) and the 1/10 sample (master id, sample id, date, CDs, value).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from features import schema as s


def read_cdnow(path: Path | str) -> pd.DataFrame:
    """Read a CDNOW file into the canonical ``orders`` table.

    Every record becomes one order line of item ``"CD"``; the customer id is the sample id
    in the sample file and the master id in the master file.

    Raises
    ------
    ValueError
        Naming the file and the offending line when a column count, date or number is wrong.
    """
    path = Path(path)
    raw = pd.read_csv(path, sep=r"\s+", header=None, dtype=str)
    if raw.shape[1] == 5:
        raw = raw.drop(columns=0)
    elif raw.shape[1] != 4:
        raise ValueError(f"{path}: expected 4 (master) or 5 (sample) columns, found {raw.shape[1]}")
    raw.columns = ["customer", "date", "cds", "value"]
    date = pd.to_datetime(raw["date"], format="%Y%m%d", errors="coerce")
    cds = pd.to_numeric(raw["cds"], errors="coerce")
    value = pd.to_numeric(raw["value"], errors="coerce")
    for name, col in (("date", date), ("number of CDs", cds), ("dollar value", value)):
        bad = col.isna()
        if bad.any():
            line = int(bad.to_numpy().nonzero()[0][0]) + 1
            raise ValueError(f"{path}, line {line}: {name} is not valid: {raw.iloc[line - 1].tolist()}")
    orders = pd.DataFrame({
        s.ORDER_ID: [f"{c}-{i}" for i, c in enumerate(raw["customer"])],
        s.CUSTOMER_ID: raw["customer"].str.lstrip("0"),
        s.ITEM_ID: "CD",
        s.TITLE: "CD",
        s.QUANTITY: cds.astype("int64"),
        s.UNIT_PRICE: (value / cds.where(cds > 0, 1)).astype(float),
        s.REVENUE: value.astype(float),
        s.TIMESTAMP: date.astype("datetime64[ns]"),
        s.COUNTRY: "US",
        s.IS_RETURN: False,
    })
    return s.ORDERS.validate(orders, str(path))
