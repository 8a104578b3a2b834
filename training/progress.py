"""Progress bars for the long steps (feature cutoffs, tuning trials, boosting rounds, epochs).

They are drawn on standard error only when it is a terminal: under cron, CI or a pipe they
stay silent, and the one-line-per-step log that every job prints is the record.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable

from tqdm import tqdm


def on_terminal() -> bool:
    return sys.stderr.isatty()


def bar(iterable: Iterable | None = None, *, total: int | None = None, desc: str, unit: str = "it") -> tqdm:
    """A tqdm bar on standard error that disappears when done, disabled off a terminal."""
    return tqdm(iterable, total=total, desc=desc, unit=unit, leave=False, disable=not on_terminal(),
                dynamic_ncols=True)


def lightgbm_rounds(progress: tqdm) -> Callable:
    """A LightGBM callback advancing ``progress`` by one per boosting round."""
    def callback(env) -> None:
        progress.update(1)
    return callback
