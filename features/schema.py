"""Column names and schemas of the canonical tables.

Every other module refers to columns through these constants, so a renamed column is a
one-line change. The meaning of each column is documented in docs/data-contract.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

# orders: one row per order line; returns and cancellations are kept and marked.
ORDER_ID = "order_id"
CUSTOMER_ID = "customer_id"
ITEM_ID = "item_id"
QUANTITY = "quantity"
UNIT_PRICE = "unit_price"
TIMESTAMP = "timestamp"
COUNTRY = "country"
IS_RETURN = "is_return"
TITLE = "title"
REVENUE = "revenue"  # quantity * unit_price; negative on returns

# items
PRICE = "price"
CATEGORY = "category"
IN_STOCK = "in_stock"
FIRST_SEEN = "first_seen"

# events
EVENT_ID = "event_id"
USER_ID = "user_id"
SESSION_ID = "session_id"
EVENT_TYPE = "event_type"
SIMULATED = "simulated"
EVENT_TYPES = ("view", "add_to_cart", "remove_from_cart", "purchase", "wishlist", "search")

# rejects
REASON = "reason"
SOURCE_ROW = "source_row"


@dataclass(frozen=True)
class TableSchema:
    """Name and column dtypes of one canonical table."""

    name: str
    columns: dict[str, str]

    def validate(self, df: pd.DataFrame, where: str) -> pd.DataFrame:
        """Check that ``df`` has every column with a compatible dtype.

        Parameters
        ----------
        df : DataFrame
            The table to check.
        where : str
            File or step named in the error message.

        Returns
        -------
        DataFrame
            ``df`` with its columns in schema order.

        Raises
        ------
        ValueError
            Naming the table, ``where``, and the missing or mistyped columns.
        """
        missing = [c for c in self.columns if c not in df.columns]
        if missing:
            raise ValueError(
                f"{where}: table '{self.name}' is missing column(s) {missing}; "
                f"found {list(df.columns)}"
            )
        wrong = [
            f"{c} is {df[c].dtype}, expected {kind}"
            for c, kind in self.columns.items()
            if not _dtype_matches(df[c], kind)
        ]
        if wrong:
            raise ValueError(f"{where}: table '{self.name}' has wrong column types: {wrong}")
        return df[list(self.columns)]


def _dtype_matches(col: pd.Series, kind: str) -> bool:
    checks = {
        "string": lambda s: pd.api.types.is_string_dtype(s) or pd.api.types.is_object_dtype(s),
        "int": pd.api.types.is_integer_dtype,
        "float": pd.api.types.is_float_dtype,
        "bool": pd.api.types.is_bool_dtype,
        "datetime": pd.api.types.is_datetime64_any_dtype,
    }
    return checks[kind](col)


ORDERS = TableSchema(
    "orders",
    {
        ORDER_ID: "string",
        CUSTOMER_ID: "string",
        ITEM_ID: "string",
        TITLE: "string",
        QUANTITY: "int",
        UNIT_PRICE: "float",
        REVENUE: "float",
        TIMESTAMP: "datetime",
        COUNTRY: "string",
        IS_RETURN: "bool",
    },
)
ITEMS = TableSchema(
    "items",
    {ITEM_ID: "string", TITLE: "string", CATEGORY: "string", PRICE: "float",
     IN_STOCK: "bool", FIRST_SEEN: "datetime"},
)
CUSTOMERS = TableSchema(
    "customers", {CUSTOMER_ID: "string", FIRST_SEEN: "datetime", COUNTRY: "string"}
)
EVENTS = TableSchema(
    "events",
    {EVENT_ID: "string", USER_ID: "string", SESSION_ID: "string", ITEM_ID: "string",
     EVENT_TYPE: "string", TIMESTAMP: "datetime", PRICE: "float", QUANTITY: "float",
     SIMULATED: "bool"},
)
