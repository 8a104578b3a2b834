"""Evaluation plots logged with each run: what people look at, as pictures."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display on servers or in CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def metric_by_k(curves: dict[str, dict[int, float]], metric: str, path: Path) -> Path:
    """Line chart of ``metric`` against k, one line per model."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, by_k in curves.items():
        ks = sorted(by_k)
        ax.plot(ks, [by_k[k] for k in ks], marker="o", label=name)
    ax.set(xlabel="k", ylabel=metric, title=f"{metric} by k on the test window")
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, path)


def by_group(values: dict[str, dict[str, float]], metric: str, path: Path) -> Path:
    """Grouped bars: ``metric`` per user group (x) for each model (bars)."""
    groups = sorted({g for v in values.values() for g in v})
    fig, ax = plt.subplots(figsize=(7, 4))
    width = 0.8 / max(len(values), 1)
    for j, (name, by_group) in enumerate(values.items()):
        ax.bar(np.arange(len(groups)) + j * width, [by_group.get(g, 0.0) for g in groups], width, label=name)
    ax.set_xticks(np.arange(len(groups)) + 0.4 - width / 2, groups)
    ax.set(ylabel=metric, title=f"{metric} by customer group on the test window")
    ax.legend(fontsize=7)
    return _save(fig, path)


def calibration_and_lift(y: np.ndarray, p: np.ndarray, path: Path, bins: int = 10) -> Path:
    """Reliability diagram (mean predicted vs observed rate per decile) and lift per decile."""
    order = np.argsort(p)
    deciles = np.array_split(order, bins)
    pred = [p[d].mean() for d in deciles]
    obs = [y[d].mean() for d in deciles]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    a.plot([0, 1], [0, 1], "--", color="grey", label="perfect")
    a.plot(pred, obs, marker="o", label="model")
    a.set(xlabel="mean predicted probability", ylabel="observed rate", title="Calibration by decile")
    a.legend()
    lift = [y[d].mean() / y.mean() for d in reversed(deciles)]
    b.bar(range(1, bins + 1), lift)
    b.axhline(1, color="grey", ls="--")
    b.set(xlabel="decile (1 = highest predicted)", ylabel="lift", title="Lift by decile")
    return _save(fig, path)


def deciles_predicted_vs_actual(y: np.ndarray, pred: np.ndarray, path: Path, bins: int = 10) -> Path:
    """Mean predicted and actual value per decile of prediction."""
    deciles = list(reversed(np.array_split(np.argsort(pred), bins)))
    x = np.arange(1, bins + 1)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.bar(x - 0.2, [pred[d].mean() for d in deciles], width=0.4, label="predicted")
    ax.bar(x + 0.2, [y[d].mean() for d in deciles], width=0.4, label="actual")
    ax.set(xlabel="decile (1 = highest predicted)", ylabel="mean value",
           title="Predicted vs actual by decile")
    ax.legend()
    return _save(fig, path)


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
