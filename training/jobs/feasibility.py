"""What a shop's data lets each family learn, decided before training and said in a user's words.

Every default of shelfwise (a 90-day churn horizon, 180 days for CLTV, three ranker windows of
92 days) assumes about two years of history. A shop with seven months, or one where every
customer reorders weekly, gets settings its data allows instead, by these rules:

- **Churn and CLTV horizons.** A model learns from monthly cutoffs whose label windows (the
  horizon) end by ``as_of``; it needs :data:`MIN_CUTOFFS` of them after the first order. Unless
  ``--horizon-days`` fixes it, the horizon is the family's default when the history allows it,
  else the longest of :data:`HORIZON_STEPS` below the default that does. Without ``--as-of``,
  ``as_of`` is the start of the last test window the data covers fully (the day after the last
  order minus the horizon), so every family is tested on the latest data it can be.
- **Labels to learn from.** The training set must hold :data:`MIN_LABEL_ROWS` customers on
  each side of the label (churned and not; for CLTV, spent and not). When too few churn at the
  default horizon (every customer reorders), shorter steps are tried before giving up.
- **Customers and items.** Recommenders need :data:`MIN_CUSTOMERS` customers and
  :data:`MIN_ITEMS` items before ``as_of``; the ranker's windows follow the history
  (:func:`training.ranker.plan_windows`). Without ``--as-of``, the recommenders test on the
  last :data:`RECS_TEST_DAYS` days, or on the longest of :data:`RECS_TEST_STEPS` that leaves
  the ranker two windows before it (:func:`training.jobs.recs.plan_recs`). A history too short
  or thin for two windows still gets recommendations without a ranker: a default baseline per
  list, replaced by another that beats it on validation (:func:`training.jobs.recs.choose_served`).

When no setting works, :class:`CannotTrain` says why with the numbers (history span,
customers, positives) and what to try; ``shelfwise train all`` trains the other families and
ends with a table of what it trained and skipped.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from features import schema as s
from features.snapshots import data_end, training_cutoffs  # data_end: imported from here too

DEFAULT_HORIZON_DAYS = {"churn": 90, "cltv": 180}
HORIZON_STEPS = (180, 120, 90, 60, 45, 30)
MIN_CUTOFFS = 3
MIN_LABEL_ROWS = 20
MIN_CUSTOMERS = 50
# One item leaves nothing to rank (a log without item ids, as CDNOW's); a shop of a few products
# still gets them ranked, each list the whole catalogue at most.
MIN_ITEMS = 2
RECS_TEST_DAYS = 90  # the recommenders' test window when --as-of is not given
RECS_TEST_STEPS = (RECS_TEST_DAYS, 60, 45, 30)  # shorter ones, for a history too short for 90


class CannotTrain(ValueError):
    """The data does not allow a family to be trained: why, with the numbers, and what to try."""

    def __init__(self, family: str, why: str, hint: str):
        self.family, self.why, self.hint = family, why, hint
        super().__init__(f"{family} cannot be trained: {why}. Try {hint}.")


@dataclass(frozen=True)
class Plan:
    """The ``as_of`` and horizon a customer model trains with, and how they were chosen."""

    as_of: pd.Timestamp
    horizon_days: int
    cutoffs: list[pd.Timestamp]
    note: str = ""


def span_words(orders: pd.DataFrame, as_of: pd.Timestamp) -> str:
    first = orders[s.TIMESTAMP].min()
    before = orders[orders[s.TIMESTAMP] < as_of]
    return (f"the history before {as_of.date()} spans {max((as_of - first).days, 0)} days "
            f"(from {first.date()}) and holds {before[s.CUSTOMER_ID].nunique():,} customers")


def recs_as_of(orders: pd.DataFrame, as_of: pd.Timestamp | None) -> pd.Timestamp:
    """``as_of`` itself, or the start of the last :data:`RECS_TEST_DAYS` days of the data."""
    return as_of if as_of is not None else data_end(orders) - pd.Timedelta(days=RECS_TEST_DAYS)


def check_recs(orders: pd.DataFrame, as_of: pd.Timestamp) -> None:
    """Raise :class:`CannotTrain` when fewer than :data:`MIN_CUSTOMERS` bought before ``as_of``
    or the orders name fewer than :data:`MIN_ITEMS` items (a log without item ids, say)."""
    before = orders[orders[s.TIMESTAMP] < as_of]
    if before[s.CUSTOMER_ID].nunique() < MIN_CUSTOMERS:
        raise CannotTrain("recs", f"{span_words(orders, as_of)}; at least {MIN_CUSTOMERS} are needed",
                          "a later --as-of or more order history")
    items = before[s.ITEM_ID].nunique()
    if items < MIN_ITEMS:
        raise CannotTrain("recs", f"the orders before {as_of.date()} name {items:,} item(s); "
                                  f"recommendations need at least {MIN_ITEMS}",
                          "an order export with the items' ids (item_id)")


def plan_customer_model(task: str, orders: pd.DataFrame, as_of: pd.Timestamp | None,
                        horizon_days: int | None, n_cutoffs: int) -> list[Plan]:
    """The settings to try, best first: the fixed horizon, or the default and shorter steps
    that leave :data:`MIN_CUTOFFS` cutoffs. Raises :class:`CannotTrain` when none does."""
    default = DEFAULT_HORIZON_DAYS[task]
    steps = [horizon_days] if horizon_days else [default, *(h for h in HORIZON_STEPS if h < default)]
    plans = []
    for h in steps:
        at = as_of if as_of is not None else data_end(orders) - pd.Timedelta(days=h)
        cutoffs = training_cutoffs(orders, at, h, n_cutoffs)
        if len(cutoffs) >= MIN_CUTOFFS or (horizon_days and cutoffs):
            why = ("set by --horizon-days" if horizon_days else
                   f"the {default}-day default needs more history than the data holds")
            note = "" if h == default else f"horizon {h} days: {why}"
            plans.append(Plan(at, h, cutoffs, note))
    if not plans:
        h = steps[-1]
        at = as_of if as_of is not None else data_end(orders) - pd.Timedelta(days=h)
        raise CannotTrain(task, f"{span_words(orders, at)}; a {h}-day label window needs at least "
                                f"{MIN_CUTOFFS} monthly cutoffs at least {h} days before {at.date()} and "
                                f"after the first order",
                          f"a later --as-of{' or a shorter --horizon-days' if horizon_days else ''}, "
                          "or more order history")
    return plans


def check_labels(task: str, labels: pd.Series, plan: Plan) -> None:
    """Raise :class:`CannotTrain` when either side of the label has fewer than
    :data:`MIN_LABEL_ROWS` rows (churned / stayed; spent / did not)."""
    y = labels.to_numpy(float)
    positive = int((y > 0).sum())
    negative = len(y) - positive
    if min(positive, negative) >= MIN_LABEL_ROWS:
        return
    h = plan.horizon_days
    if task == "churn":
        sides = f"{positive:,} churned (no purchase within {h} days) and {negative:,} bought again"
        hint = (f"a shorter --horizon-days than {h}, so that some customers count as churned"
                if positive < negative else f"a longer --horizon-days than {h}, or more order history")
    else:
        sides = f"{positive:,} spent something within {h} days and {negative:,} did not"
        hint = "a longer --horizon-days, a later --as-of, or more order history"
    raise CannotTrain(task, f"of {len(y):,} training rows at {len(plan.cutoffs)} cutoffs "
                            f"{plan.cutoffs[0].date()}..{plan.cutoffs[-1].date()}, {sides}; "
                            f"at least {MIN_LABEL_ROWS} of each are needed", hint)
