"""The pictures people look at: evaluation plots logged with each run, shown in the notebooks.

Every function returns a :class:`matplotlib.figure.Figure` built without pyplot, so nothing
depends on a display or a global backend: jobs write it with :func:`save`, a notebook shows
it as the cell's value.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure


def metric_by_k(curves: dict[str, dict[int, float]], metric: str) -> Figure:
    """Line chart of ``metric`` against k, one line per model."""
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    for name, by_k in curves.items():
        ks = sorted(by_k)
        ax.plot(ks, [by_k[k] for k in ks], marker="o", label=name)
    ax.set(xlabel="k", ylabel=metric, title=f"{metric} by k on the test window")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return fig


def by_group(values: dict[str, dict[str, float]], metric: str) -> Figure:
    """Grouped bars: ``metric`` per user group (x) for each model (bars)."""
    groups = sorted({g for v in values.values() for g in v})
    fig = Figure(figsize=(7, 4))
    ax = fig.subplots()
    width = 0.8 / max(len(values), 1)
    for j, (name, by_group) in enumerate(values.items()):
        ax.bar(np.arange(len(groups)) + j * width, [by_group.get(g, 0.0) for g in groups], width, label=name)
    ax.set_xticks(np.arange(len(groups)) + 0.4 - width / 2, groups)
    ax.set(ylabel=metric, title=f"{metric} by customer group on the test window")
    ax.legend(fontsize=7)
    return fig


def calibration_and_lift(y: np.ndarray, p: np.ndarray, bins: int = 10) -> Figure:
    """Reliability diagram (mean predicted vs observed rate per decile) and lift per decile."""
    order = np.argsort(p)
    deciles = np.array_split(order, bins)
    pred = [p[d].mean() for d in deciles]
    obs = [y[d].mean() for d in deciles]
    fig = Figure(figsize=(10, 4))
    a, b = fig.subplots(1, 2)
    a.plot([0, 1], [0, 1], "--", color="grey", label="perfect")
    a.plot(pred, obs, marker="o", label="model")
    a.set(xlabel="mean predicted probability", ylabel="observed rate", title="Calibration by decile")
    a.legend()
    lift = [y[d].mean() / y.mean() for d in reversed(deciles)]
    b.bar(range(1, bins + 1), lift)
    b.axhline(1, color="grey", ls="--")
    b.set(xlabel="decile (1 = highest predicted)", ylabel="lift", title="Lift by decile")
    return fig


def deciles_predicted_vs_actual(y: np.ndarray, pred: np.ndarray, bins: int = 10) -> Figure:
    """Mean predicted and actual value per decile of prediction."""
    deciles = list(reversed(np.array_split(np.argsort(pred), bins)))
    x = np.arange(1, bins + 1)
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    ax.bar(x - 0.2, [pred[d].mean() for d in deciles], width=0.4, label="predicted")
    ax.bar(x + 0.2, [y[d].mean() for d in deciles], width=0.4, label="actual")
    ax.set(xlabel="decile (1 = highest predicted)", ylabel="mean value",
           title="Predicted vs actual by decile")
    ax.legend()
    return fig


def over_time(series: dict[str, pd.Series], title: str) -> Figure:
    """One panel per named series against its time index (for example orders and revenue by week)."""
    fig = Figure(figsize=(10, 2.6 * len(series)))
    axes = np.atleast_1d(fig.subplots(len(series), 1, sharex=True))
    for ax, (name, values) in zip(axes, series.items(), strict=True):
        ax.plot(values.index, values.to_numpy())
        ax.set(ylabel=name)
        ax.grid(alpha=0.3)
    axes[0].set_title(title)
    return fig


def retention_curves(retention: pd.DataFrame, max_curves: int = 12) -> Figure:
    """Share of each cohort still buying n periods after its first (one line per cohort) and
    the heat map of the whole table (rows: cohorts, columns: periods since first purchase)."""
    fig = Figure(figsize=(12, 4.5))
    a, b = fig.subplots(1, 2)
    for cohort, row in retention.head(max_curves).iterrows():
        row = row.dropna()
        a.plot(row.index[1:], row.to_numpy()[1:], marker=".", label=str(cohort))
    a.set(xlabel="periods since first purchase", ylabel="share of the cohort buying",
          title="Cohort retention")
    a.legend(fontsize=6, ncol=2)
    a.grid(alpha=0.3)
    image = b.imshow(retention.to_numpy(float), aspect="auto", cmap="viridis", vmin=0,
                     vmax=np.nanmax(retention.to_numpy(float)[:, 1:]) if retention.shape[1] > 1 else 1)
    b.set_yticks(range(len(retention)), [str(c) for c in retention.index], fontsize=6)
    b.set(xlabel="periods since first purchase", title="Retention by cohort")
    fig.colorbar(image, ax=b)
    return fig


def ab_test(arms: pd.DataFrame, title: str) -> Figure:
    """An A/B test's arms (:func:`features.experiments.ab.arms`): conversion, click-through
    and revenue per thousand exposures, each with its interval."""
    fig = Figure(figsize=(10, 3.2))
    for ax, (col, label) in zip(fig.subplots(1, 3), (("conversion", "conversion"),
                                                     ("click_through", "click-through"),
                                                     ("revenue_per_1000", "revenue per 1,000 exposures")),
                                strict=True):
        values = arms[col].to_numpy(float)
        err = np.abs(arms[[f"{col}_low", f"{col}_high"]].to_numpy(float).T - values)
        ax.bar(list(arms.index), values, yerr=np.nan_to_num(err), capsize=6, color=["#3b6ea8", "#e0a030"])
        ax.set(title=label)
    fig.suptitle(title, fontsize=10)
    return fig


def save(fig: Figure, path: Path) -> Path:
    """Write ``fig`` as a PNG at ``path``."""
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path
