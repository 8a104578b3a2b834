"""Which shelfwise is running: the package version, and the commit of a checkout.

Recorded with every training run and shown by ``shelfwise --version`` and the OpenAPI page.
"""

from __future__ import annotations

import functools
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def package_version() -> str:
    """The installed ``shelfwise`` package's version (``unknown`` for an uninstalled tree)."""
    try:
        return version("shelfwise")
    except PackageNotFoundError:
        return "unknown"


@functools.cache
def checkout_commit() -> str | None:
    """The git commit of the shelfwise checkout this code runs from; None when it does not run
    from one (an installed package inside some other repository does not count)."""
    if not (ROOT / ".git").exists() or not (ROOT / "pyproject.toml").exists():
        return None
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                             timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return (out.stdout.strip() or None) if out.returncode == 0 else None


def code_version() -> str:
    """``0.1.0`` from an installed package, ``0.1.0+g<commit>`` from a checkout."""
    commit = checkout_commit()
    return f"{package_version()}+g{commit[:12]}" if commit else package_version()
