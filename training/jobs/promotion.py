"""Whether a new version becomes champion, and what a training job reports.

A new version becomes ``champion`` when there is none yet or when it beats the current
champion on the same evaluation: the champion is downloaded and scored on the new test
window, so the two numbers compared always come from the same data. Otherwise the new
version is ``challenger``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from features.artifacts import file_sha256
from training import registry

PRIMARY_METRIC = {"recs": "all_ndcg_at_10", "churn": "roc_auc", "cltv": "normalized_gini"}
# The recommender table printed after training (metric key, column label).
RECS_COLUMNS = (("all_ndcg_at_10", "NDCG@10"), ("all_precision_at_10", "P@10"), ("all_recall_at_10", "R@10"),
                ("all_map_at_10", "MAP@10"), ("all_hit_rate_at_10", "HR@10"), ("all_ndcg_at_20", "NDCG@20"),
                ("discovery_ndcg_at_10", "disc NDCG@10"), ("discovery_recall_at_20", "disc R@20"),
                ("buy_again_ndcg_at_10", "again NDCG@10"), ("all_coverage_at_10", "coverage@10"))


@dataclass
class TrainResult:
    """What a training job did, printed by the CLI and returned to callers."""

    family: str
    version: str
    run_id: str
    metrics: dict[str, float]
    baseline_name: str
    baseline: dict[str, float]
    promoted: bool
    reason: str
    window: str
    notes: list[str] = field(default_factory=list)
    table: dict[str, dict[str, float]] = field(default_factory=dict)  # model -> metrics
    champion_version: str | None = None  # the champion when this version was evaluated
    champion_score: float | None = None  # its primary metric on the same test window
    applied: bool = True  # False: the alias is left to the caller (`shelfwise retrain` sets it last)

    def lines(self) -> list[str]:
        out = [f"[{self.family}] registered {registry.MODEL_NAMES[self.family]} "
               f"version {self.version} (run {self.run_id}); {self.window}"]
        if self.table:
            first = next(iter(self.table.values()))
            columns = RECS_COLUMNS if self.family == "recs" else [(k, k) for k in first]
            width = max(12, *(len(n) for n in self.table)) + 2
            col = max(14, *(len(label) + 2 for _, label in columns))
            out.append(f"  {'model':<{width}}" + "".join(f"{label:>{col}}" for _, label in columns))
            for name, row in self.table.items():
                out.append(f"  {name:<{width}}"
                           + "".join(f"{row.get(key, float('nan')):>{col}.4f}" for key, _ in columns))
        elif self.metrics:
            out.append(f"  {'metric':<22}{'model':>12}{self.baseline_name:>24}")
            for k, v in self.metrics.items():
                b = self.baseline.get(k)
                out.append(f"  {k:<22}{v:>12.4f}{(f'{b:.4f}' if b is not None else '-'):>24}")
        out += [f"  note: {n}" for n in self.notes]
        alias = "champion" if self.promoted else "challenger"
        out.append(f"  alias: {alias if self.applied else f'{alias} once every family is trained'} "
                   f"({self.reason})")
        return out


def data_digest(path: Path) -> str:
    """The short digest of a table file that each run records (``data_digest``)."""
    return file_sha256(path)[:16]


def decide(client, family: str, version: str, new_score: float | None,
             champion_score: Callable[[Path], float] | None, apply: bool = True
             ) -> tuple[bool, str, str | None, float | None]:
    """Decide whether ``version`` becomes champion; set the alias unless ``apply`` is false.

    Returns ``(promoted, reason, champion version, its score on the same test window)``; the
    last two are None when there is no champion or nothing to compare on.
    """
    metric = PRIMARY_METRIC[family]
    with registry.scratch_dir() as tmp:
        current = registry.champion_dir(client, family, Path(tmp))
        old_version, old_score = (current[1] if current else None), None
        if current is None:
            promoted, reason = True, "no champion yet"
        elif new_score is None or champion_score is None:
            promoted, reason = False, f"no test window to compare with champion v{old_version}"
        else:
            path = current[0]
            try:
                old_score, note = champion_score(path), ""
            except (ValueError, KeyError, OSError) as exc:
                # The files are a scratch copy: say which version they are, not where they were.
                why = str(exc).replace(f"{path}: ", "").replace(str(path), "its files")
                old_score, note = float("-inf"), f"; champion v{old_version} cannot be scored: {why}"
            promoted = new_score > old_score
            reason = (f"{metric} {new_score:.4f} {'beats' if promoted else 'does not beat'} champion "
                      f"v{old_version}'s {old_score:.4f}{note}")
    if apply:
        apply_decision(client, family, version, promoted)
    return promoted, reason, old_version, old_score


def apply_decision(client, family: str, version: str, promoted: bool) -> None:
    """Give ``version`` the alias its evaluation earned: ``champion`` (once the registered
    files pass :func:`registry.check_version`) or ``challenger``."""
    if promoted:
        registry.check_version(client, family, version)
    registry.set_alias(client, family, registry.CHAMPION if promoted else registry.CHALLENGER, version)
