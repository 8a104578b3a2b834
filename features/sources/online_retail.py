"""Loader for the UCI "Online Retail II" order lines (Chen 2012, CC BY 4.0).

Turns the raw workbook, CSV or Parquet export into the canonical ``orders`` table and a
``rejects`` table. Every row read ends up in exactly one of them: rejected rows keep their
raw values, their row number in the source and the reason they were set aside, so
``accepted + rejected == rows read`` always holds.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from features import schema as s
from features.categories import categorize
from features.sources.imports import (
    MALFORMED,
    RAW_LINE,
    ImportReport,
    first_reason,
    malformed,
    read_file,
    split,
)

RAW_COLUMNS = ("Invoice", "StockCode", "Description", "Quantity", "InvoiceDate", "Price",
               "Customer ID", "Country")
# The 2010-2011 "Online Retail" release spells some columns differently.
COLUMN_ALIASES = {"InvoiceNo": "Invoice", "UnitPrice": "Price", "CustomerID": "Customer ID"}

# Stock codes that are fees, postage, adjustments or tests rather than products.
NON_PRODUCT_CODE = re.compile(
    r"^(POST|DOT|M|m|D|C2|C3|S|B|CRUK|PADS|AMAZONFEE|BANK CHARGES|ADJUST\d*|TEST\d*|gift_.*)$"
)

# Reasons, in the order they are checked: a row gets the first one that applies.
REASONS = {
    "malformed_row": MALFORMED,
    "unparseable_timestamp": "InvoiceDate is not a date",
    "unparseable_quantity": "Quantity is not an integer",
    "unparseable_price": "Price is not a number",
    "missing_item_id": "StockCode is blank",
    "guest_checkout": "Customer ID is blank (guest checkout)",
    "non_product_code": "StockCode is a fee, postage, adjustment or test code",
    "non_positive_price": "Price is zero or negative",
    "non_positive_quantity_on_sale": "Quantity <= 0 on an invoice that is not a cancellation",
    "positive_quantity_on_cancellation": "Quantity > 0 on a cancellation invoice",
    "duplicate_line": "exact repeat of an earlier line of the same invoice",
}


def read_raw(path: Path | str) -> pd.DataFrame:
    """Read the raw file (``.xlsx``/``.xls`` workbook, ``.csv`` or ``.parquet``) as strings.

    The UCI workbook has two sheets (2009-2010 and 2010-2011) that overlap on
    2010-12-01..2010-12-09; the overlap is counted once.

    Raises
    ------
    ValueError
        If the file is empty, cannot be decoded, has an unknown extension or lacks a column.
    """
    path = Path(path)
    if path.suffix.lower() in (".xlsx", ".xls") and path.exists() and path.stat().st_size > 0:
        sheets = pd.read_excel(path, sheet_name=None, dtype=str)
        raw = _drop_sheet_overlap([_aliased(x) for x in sheets.values()])
    else:
        raw = read_file(path)
    raw = _aliased(raw)
    missing = [c for c in RAW_COLUMNS if c not in raw.columns]
    if missing:
        raise ValueError(
            f"{path}: missing column(s) {missing}; found {list(raw.columns)}. "
            f"Online Retail II files have the columns {list(RAW_COLUMNS)}"
        )
    return raw[list(RAW_COLUMNS) + ([RAW_LINE] if RAW_LINE in raw.columns else [])]


def _aliased(raw: pd.DataFrame) -> pd.DataFrame:
    return raw.rename(columns={k: v for k, v in COLUMN_ALIASES.items() if k in raw.columns})


def _drop_sheet_overlap(sheets: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate workbook sheets, keeping each day from the first sheet that has it.

    The UCI workbook's sheets overlap on 2010-12-01..2010-12-09 and repeat those lines.
    """
    kept, last = [], None
    for sheet in sheets:
        day = pd.to_datetime(sheet["InvoiceDate"], errors="coerce")
        if last is not None:
            sheet = sheet[~(day <= last).to_numpy(bool)]  # unparseable dates stay, to be counted
            day = pd.to_datetime(sheet["InvoiceDate"], errors="coerce")
        kept.append(sheet)
        last = day.max() if last is None else max(last, day.max())
    return pd.concat(kept, ignore_index=True)


def load_orders(raw: pd.DataFrame, source: str) -> tuple[pd.DataFrame, pd.DataFrame, ImportReport]:
    """Split raw Online Retail II lines into canonical orders and rejects.

    Parameters
    ----------
    raw : DataFrame
        The columns of :data:`RAW_COLUMNS`, as read by :func:`read_raw`.
    source : str
        File name recorded in the report and the rejects.

    Returns
    -------
    orders : DataFrame
        Canonical ``orders`` table (:data:`features.schema.ORDERS`). Cancellations
        (invoices starting with ``C``) are kept with ``is_return=True`` and negative
        quantity, because net revenue and return rates need them.
    rejects : DataFrame
        The raw values of every row set aside, with ``source_row`` (0-based row in the
        source) and ``reason`` (a key of :data:`REASONS`).
    report : ImportReport
    """
    n = len(raw)
    invoice = raw["Invoice"].astype("string").str.strip()
    item = raw["StockCode"].astype("string").str.strip()
    ts = pd.to_datetime(raw["InvoiceDate"], errors="coerce")
    qty = pd.to_numeric(raw["Quantity"], errors="coerce")
    price = pd.to_numeric(raw["Price"], errors="coerce")
    customer = _customer_ids(raw["Customer ID"])
    is_cancel = invoice.str.upper().str.startswith("C").fillna(False).to_numpy(bool)

    checks = [
        ("malformed_row", malformed(raw)),
        ("unparseable_timestamp", ts.isna().to_numpy()),
        ("unparseable_quantity", (qty.isna() | (qty % 1 != 0)).to_numpy()),
        ("unparseable_price", price.isna().to_numpy()),
        ("missing_item_id", (item.isna() | (item == "")).to_numpy(bool)),
        ("guest_checkout", customer.isna().to_numpy()),
        ("non_product_code", item.fillna("").str.fullmatch(NON_PRODUCT_CODE).to_numpy(bool)),
        ("non_positive_price", (price <= 0).to_numpy(bool)),
        ("non_positive_quantity_on_sale", ((qty <= 0).to_numpy(bool) & ~is_cancel)),
        ("positive_quantity_on_cancellation", ((qty > 0).to_numpy(bool) & is_cancel)),
    ]
    reason = first_reason(n, checks)
    ok = reason == None  # noqa: E711
    line_key = pd.DataFrame({"i": invoice, "s": item, "q": qty, "t": ts, "p": price, "c": customer})
    reason[(line_key.duplicated() & pd.Series(ok)).to_numpy()] = "duplicate_line"
    ok, rejects, report = split(raw, reason, source, "orders", REASONS)

    title = raw["Description"].astype("string").str.strip()
    orders = pd.DataFrame(
        {
            s.ORDER_ID: invoice[ok].astype(str),
            s.CUSTOMER_ID: customer[ok].astype(str),
            s.ITEM_ID: item[ok].astype(str),
            s.TITLE: title[ok].fillna("").astype(str),
            s.QUANTITY: qty[ok].astype("int64"),
            s.UNIT_PRICE: price[ok].astype("float64"),
            s.TIMESTAMP: ts[ok].astype("datetime64[ns]"),
            s.COUNTRY: raw["Country"][ok].astype("string").fillna("").astype(str),
            s.IS_RETURN: is_cancel[ok],
        }
    )
    orders[s.REVENUE] = orders[s.QUANTITY] * orders[s.UNIT_PRICE]
    orders = s.ORDERS.validate(orders.reset_index(drop=True), source)

    report.notes.append(f"{int(orders[s.IS_RETURN].sum()):,} accepted lines are returns or "
                        "cancellations, kept and marked is_return")
    return orders, rejects, report


def _customer_ids(col: pd.Series) -> pd.Series:
    # Excel and Parquet store ids as floats (13085.0); the retailer's id is "13085".
    text = col.astype("string").str.strip().replace("", pd.NA)
    as_num = pd.to_numeric(text, errors="coerce")
    whole = as_num.notna() & (as_num % 1 == 0)
    text[whole] = as_num[whole].astype("int64").astype("string")
    return text


def build_items(orders: pd.DataFrame) -> pd.DataFrame:
    """Derive the ``items`` table from order lines.

    The title is the most frequent description of the item; the price is the median unit
    price on sales. This data set has no category or stock level: ``category`` is derived
    from the title (:func:`features.categories.categorize`) and every item is in stock.
    """
    sales = orders[~orders[s.IS_RETURN]]
    titled = sales[sales[s.TITLE] != ""]
    title = (
        titled.groupby([s.ITEM_ID, s.TITLE]).size().rename("n").reset_index()
        .sort_values([s.ITEM_ID, "n", s.TITLE], ascending=[True, False, True])
        .drop_duplicates(s.ITEM_ID).set_index(s.ITEM_ID)[s.TITLE]
    )
    g = orders.groupby(s.ITEM_ID)
    items = pd.DataFrame({s.FIRST_SEEN: g[s.TIMESTAMP].min()})
    items[s.PRICE] = sales.groupby(s.ITEM_ID)[s.UNIT_PRICE].median()
    items[s.PRICE] = items[s.PRICE].fillna(g[s.UNIT_PRICE].median())
    items[s.TITLE] = title.reindex(items.index).fillna(pd.Series(items.index, index=items.index))
    items[s.CATEGORY] = categorize(items[s.TITLE])
    items[s.IN_STOCK] = True
    return s.ITEMS.validate(items.reset_index(), "build_items")


def build_customers(orders: pd.DataFrame) -> pd.DataFrame:
    """Derive the ``customers`` table: first order date and most frequent country."""
    g = orders.groupby(s.CUSTOMER_ID)
    customers = pd.DataFrame({s.FIRST_SEEN: g[s.TIMESTAMP].min()})
    country = (
        orders.groupby([s.CUSTOMER_ID, s.COUNTRY]).size().rename("n").reset_index()
        .sort_values([s.CUSTOMER_ID, "n"], ascending=[True, False])
        .drop_duplicates(s.CUSTOMER_ID).set_index(s.CUSTOMER_ID)[s.COUNTRY]
    )
    customers[s.COUNTRY] = country
    return s.CUSTOMERS.validate(customers.reset_index(), "build_customers")
