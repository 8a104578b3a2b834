"""The marketer report: one self-contained HTML page of the customer base at a glance.

Charts are matplotlib figures embedded as base64 PNG, styles are inline, and nothing is
fetched, so the page opens from a file, an e-mail attachment or ``GET /report`` alike.
``shelfwise report --out DIR`` writes ``DIR/index.html`` and a copy to the workspace's
``report/index.html``, which the service serves.
"""

from __future__ import annotations

import base64
import html
import io
from datetime import UTC, datetime
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from features.cohorts import cohort_retention
from features.experiments.attribution import attribution_table
from features.profiles import LIFECYCLE_STAGES, RFM_SEGMENTS
from features.workspace import Workspace
from serving.marketing.tools import report_path
from serving.runtime.models import RISK_BANDS

COLOURS = {"low": "#4c9f70", "medium": "#e0a030", "high": "#c0392b"}


def _png(fig: Figure) -> str:
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    return base64.b64encode(buf.getvalue()).decode()


def _figure(name: str, title: str, fig: Figure, caption: str) -> str:
    return (
        f'<figure class="chart" data-chart="{name}"><h3>{html.escape(title)}</h3>'
        f'<img alt="{html.escape(title)}" src="data:image/png;base64,{_png(fig)}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


def _table(frame: pd.DataFrame, cls: str = "") -> str:
    return frame.to_html(index=False, border=0, classes=cls, float_format=lambda v: f"{v:,.2f}")


def segment_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per RFM group: customers, revenue to date, predicted CLTV, mean churn probability."""
    g = table.groupby("rfm_segment")
    out = pd.DataFrame(
        {
            "customers": g.size(),
            "revenue": g["revenue"].sum(),
            "predicted_cltv": g["predicted_cltv"].sum(),
            "mean_churn_probability": g["churn_probability"].mean(),
        }
    )
    return out.reindex([s for s in RFM_SEGMENTS if s in out.index])


def _sizes_chart(summary: pd.DataFrame, lifecycle: pd.Series) -> Figure:
    fig = Figure(figsize=(11, 4))
    a, b = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    a.barh(summary.index[::-1], summary["customers"][::-1], color="#3b6ea8")
    for y, v in enumerate(summary["customers"][::-1]):
        a.text(v, y, f" {v:,}", va="center", fontsize=8)
    a.set(xlabel="customers", title="RFM groups")
    b.bar(lifecycle.index, lifecycle.to_numpy(), color="#7a5ea8")
    b.set(ylabel="customers", title="Lifecycle stage")
    b.tick_params(axis="x", labelsize=8)
    return fig


def _value_chart(summary: pd.DataFrame) -> Figure:
    fig = Figure(figsize=(11, 4))
    ax = fig.subplots()
    x = np.arange(len(summary))
    ax.bar(x - 0.2, summary["revenue"] / 1000, 0.4, label="revenue to date", color="#3b6ea8")
    ax.bar(
        x + 0.2, summary["predicted_cltv"] / 1000, 0.4, label="predicted CLTV (next horizon)", color="#e0a030"
    )
    ax.set_xticks(x, summary.index, rotation=30, ha="right", fontsize=8)
    ax.set(ylabel="thousands", title="Revenue and predicted lifetime value by RFM group")
    ax.legend()
    return fig


def _risk_chart(table: pd.DataFrame) -> Figure:
    fig = Figure(figsize=(11, 3.6))
    a, b = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    edges, bands = RISK_BANDS
    p = table["churn_probability"]
    for low, high, band in zip(edges[:-1], edges[1:], bands, strict=True):
        part = p[(p > low) & (p <= high)] if low > 0 else p[p <= high]
        a.hist(
            part,
            bins=np.linspace(low, high, int(round((high - low) * 40)) + 1),
            color=COLOURS[band],
            label=f"{band} ({len(part):,})",
        )
    a.set(xlabel="churn probability", ylabel="customers", title="Churn-risk distribution")
    a.legend()
    tiers = table["predicted_cltv"].sort_values(ascending=False)
    share = tiers.cumsum() / max(tiers.clip(lower=0).sum(), 1e-9)
    b.plot(np.arange(1, len(tiers) + 1) / len(tiers) * 100, share.to_numpy() * 100, color="#3b6ea8")
    for pct in (1, 5, 10):
        b.axvline(pct, color="grey", lw=0.6, ls="--")
    b.set(
        xlabel="top % of customers by predicted CLTV",
        ylabel="% of predicted CLTV",
        xscale="log",
        title="Concentration of predicted CLTV",
    )
    return fig


def _cohort_chart(retention: pd.DataFrame) -> Figure:
    fig = Figure(figsize=(11, 4))
    a, b = fig.subplots(1, 2)
    for cohort, row in retention.iterrows():
        row = row.dropna()
        a.plot(row.index[1:], row.to_numpy()[1:] * 100, marker=".", label=str(cohort))
    a.set(xlabel="quarters since first purchase", ylabel="% of the cohort buying", title="Cohort retention")
    a.legend(fontsize=7, ncol=2)
    a.grid(alpha=0.3)
    values = retention.to_numpy(float)[:, 1:] * 100
    image = b.imshow(values, aspect="auto", cmap="viridis")
    b.set_yticks(range(len(retention)), [str(c) for c in retention.index], fontsize=7)
    b.set_xticks(range(values.shape[1]), range(1, values.shape[1] + 1))
    b.set(xlabel="quarters since first purchase", title="Retention heat map (%)")
    fig.colorbar(image, ax=b)
    return fig


def _category_chart(shares: pd.DataFrame) -> Figure:
    fig = Figure(figsize=(11, 4.2))
    ax = fig.subplots()
    image = ax.imshow(shares.to_numpy(float) * 100, aspect="auto", cmap="Blues")
    ax.set_xticks(range(shares.shape[1]), shares.columns, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(shares.shape[0]), shares.index, fontsize=8)
    for (i, j), v in np.ndenumerate(shares.to_numpy(float)):
        ax.text(
            j,
            i,
            f"{v * 100:.0f}",
            ha="center",
            va="center",
            fontsize=6,
            color="white" if v > shares.to_numpy(float).max() * 0.6 else "black",
        )
    ax.set(title="Share of each RFM group's spend by category (%)")
    fig.colorbar(image, ax=ax)
    return fig


def _plan_chart(plan: dict) -> Figure:
    fig = Figure(figsize=(11, 3))
    a, b = fig.subplots(1, 2)
    offers = plan["by_offer"] or {"(none)": 0}
    a.barh(list(offers), list(offers.values()), color="#4c9f70")
    a.set(xlabel="customers", title="Offers in the plan")
    bars = {
        "budget": plan["budget"],
        "expected cost": plan["expected_cost"],
        "expected revenue": plan["expected_retained_revenue"],
        "expected net value": plan["expected_net_value"],
    }
    b.bar(list(bars), list(bars.values()), color=["#999999", "#c0392b", "#3b6ea8", "#4c9f70"])
    b.set(title=f"Campaign {plan['campaign']}")
    b.tick_params(axis="x", labelsize=8)
    return fig


ATTRIBUTION_DAYS = 30  # the report's window of shown answers


def _attribution_chart(table: pd.DataFrame) -> Figure:
    """Click-through, conversion and revenue per thousand exposures, a bar per endpoint and
    variant."""
    fig = Figure(figsize=(11, 3.2))
    labels = [f"{e} ({v})" if v != "champion" else e for e, v in zip(table["endpoint"], table["variant"],
                                                                      strict=True)]
    for ax, (col, title) in zip(fig.subplots(1, 3), (("click_through", "Click-through"),
                                                     ("conversion", "Conversion"),
                                                     ("revenue_per_1000", "Revenue per 1,000 exposures")),
                                strict=True):
        ax.barh(labels, table[col], color="#3b6ea8")
        ax.set(title=title)
        ax.tick_params(axis="y", labelsize=7)
    return fig


def _attribution_part(workspace: Workspace) -> list[str]:
    since = pd.Timestamp.now(tz="UTC") - pd.Timedelta(days=ATTRIBUTION_DAYS)
    store = workspace.existing_live_store()  # none before the service first ran
    table = attribution_table(store, since) if store is not None else pd.DataFrame()
    if table.empty:
        return ['<h2>What the lists and offers earned</h2><p class="note">No answers shown in the last '
                f"{ATTRIBUTION_DAYS} days: the service logs each list and offer it shows, and events posted "
                "with its recommendation_id are credited to it.</p>"]
    return ["<h2>What the lists and offers earned</h2>",
            _figure("attribution", f"The last {ATTRIBUTION_DAYS} days", _attribution_chart(table),
                    "Clicks and add-to-carts posted with an answer's recommendation_id; purchases with it, "
                    "or else of an item shown to the same shopper in the 7 days before (last touch)."),
            _table(table, "numbers")]


def build_report(marketing, workspace: Workspace) -> str:
    """The page's HTML for the models and workspace ``marketing`` was built from."""
    # Labels are the shop's own text: a category such as "cards $5 and under" must not be
    # read as matplotlib's mathematical notation (it stopped the report).
    with matplotlib.rc_context({"text.parse_math": False}):
        return _build_report(marketing, workspace)


def _build_report(marketing, workspace: Workspace) -> str:
    base = marketing.base
    base.scorer.require(("churn", "cltv"), "the marketer report")
    table = base.table
    summary = segment_summary(table)
    lifecycle = table["lifecycle"].value_counts().reindex(list(LIFECYCLE_STAGES), fill_value=0)
    orders = workspace.read_table("orders")
    retention = cohort_retention(orders, base.as_of, freq="Q")
    retention = retention.drop(columns=["customers"], errors="ignore")
    spend = base.category_spend.clip(lower=0).groupby(table["rfm_segment"]).sum()
    shares = spend.div(spend.sum(axis=1).replace(0, np.nan), axis=0).reindex(summary.index).fillna(0)
    shares = shares[shares.mean().sort_values(ascending=False).index]
    top = pd.DataFrame(
        {
            "RFM group": shares.index,
            "top categories by spend": [
                ", ".join(f"{c} {v:.0%}" for c, v in row.sort_values(ascending=False).head(3).items())
                for _, row in shares.iterrows()
            ],
        }
    )
    plan = marketing.last_plan()

    sizes = marketing.list_segments()
    families = "".join(
        f'<div class="family"><h4>{html.escape(fam)}</h4>'
        f"{_table(rows[['segment', 'customers', 'share']])}</div>"
        for fam, rows in sizes.groupby("family", sort=False)
    )
    parts = [
        _figure(
            "segment-sizes",
            "Segment sizes",
            _sizes_chart(summary, lifecycle),
            f"{len(table):,} customers with a purchase before {base.as_of.date()}.",
        ),
        _figure(
            "value-by-segment",
            "Revenue and CLTV by segment",
            _value_chart(summary),
            "Revenue to date is net of returns; CLTV is the served model's prediction.",
        ),
        _table(summary.reset_index().rename(columns={"rfm_segment": "RFM group"}), "numbers"),
        _figure(
            "churn-risk",
            "Churn risk",
            _risk_chart(table),
            "Bands: low below 0.3, medium to 0.6, high above (POST /customer's risk_band).",
        ),
        _figure(
            "cohort-retention",
            "Cohort retention",
            _cohort_chart(retention),
            "Customers grouped by the quarter of their first purchase.",
        ),
        _figure(
            "categories-by-segment",
            "Top categories per segment",
            _category_chart(shares),
            "Categories are derived from item titles where the catalogue has none.",
        ),
        _table(top),
    ]
    if plan is not None:
        parts.append(
            _figure(
                "campaign-plan",
                "Last campaign plan",
                _plan_chart(plan),
                f"Planned as of {plan['as_of']} with {plan['catalogue']}.",
            )
        )
        parts.append(
            _table(
                pd.DataFrame(
                    [
                        {
                            k: plan[k]
                            for k in (
                                "campaign",
                                "budget",
                                "customers_reached",
                                "expected_cost",
                                "expected_retained_revenue",
                                "expected_net_value",
                            )
                        }
                    ]
                ),
                "numbers",
            )
        )
    else:
        parts.append(
            '<p class="note">No campaign planned yet: <code>shelfwise offers plan --campaign NAME '
            "--out plan.csv</code> adds it here.</p>"
        )
    parts += _attribution_part(workspace)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    versions = ", ".join(f"{k} {v}" for k, v in marketing.versions.items())
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>shelfwise: customer base as of {base.as_of.date()}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; }}
h1 {{ margin-bottom: 0; }} .meta {{ color: #666; margin-top: .2rem; }}
figure {{ margin: 1.5rem 0; }} figure img {{ width: 100%; height: auto; }} figcaption {{ color: #555; }}
table {{ border-collapse: collapse; margin: .5rem 0 1.5rem; font-size: .9rem; }}
th, td {{ padding: .25rem .6rem; border-bottom: 1px solid #ddd; text-align: left; }}
table.numbers td {{ text-align: right; }} .families {{ columns: 3; }} .family {{ break-inside: avoid; }}
</style></head><body>
<h1>Your customers at a glance</h1>
<p class="meta">As of {base.as_of.date()} &middot; {len(table):,} customers
&middot; models {html.escape(versions)} &middot; generated {stamp}</p>
{"".join(parts)}
<h2>Every segment</h2><div class="families">{families}</div>
</body></html>
"""


def write_report(marketing, workspace: Workspace, out: Path) -> Path:
    """Write ``out/index.html`` and the workspace's copy the service serves."""
    page = build_report(marketing, workspace)
    for path in (out / "index.html", report_path(workspace)):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(page)
        tmp.replace(path)
    return out / "index.html"
