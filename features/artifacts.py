"""The contract of a model directory between ``training`` and ``serving``.

A model is a directory of portable files (``.npz``, LightGBM text, JSON) with a ``meta.json``
naming its format and feature set, and a ``checksums.json`` of every other file's SHA-256.
Training writes the checksums before it logs the directory; promotion and every load check
the whole contract, so a truncated file or a model this code cannot build features for is
refused before it is served (a truncated LightGBM text file would otherwise load, with
fewer trees).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from features.customer_features import get_feature_set
from features.purchase_history import CANDIDATE_FEATURES

RECS_FORMAT = "shelfwise-recs-v5"  # v5: the seasonal ridge's weights (mapped/season_weights.npy)
LGBM_FORMAT = "shelfwise-lgbm-v1"
FORMATS = {"recs": RECS_FORMAT, "churn": LGBM_FORMAT, "cltv": LGBM_FORMAT}
META = "meta.json"
CHECKSUMS = "checksums.json"
ARRAYS = "model.npz"
MAPPED = "mapped"  # one .npy per large array, memory-mapped by every process that loads it


class IncompatibleModelError(ValueError):
    """A model directory this code cannot serve: corrupt, incomplete, or of another format or
    feature set."""


def save_arrays(path: Path, arrays: dict[str, np.ndarray], mapped: dict[str, np.ndarray]) -> None:
    """Write small ``arrays`` to ``model.npz`` and each of ``mapped`` to ``mapped/<name>.npy``."""
    np.savez(path / ARRAYS, **arrays)
    (path / MAPPED).mkdir(exist_ok=True)
    for name, a in mapped.items():
        np.save(path / MAPPED / f"{name}.npy", np.ascontiguousarray(a))


def load_arrays(path: Path) -> dict[str, np.ndarray]:
    """The arrays :func:`save_arrays` wrote; the mapped ones read-only and memory-mapped, so
    the service's workers share one copy of them in the page cache instead of one each."""
    arrays = dict(np.load(path / ARRAYS, allow_pickle=False))
    arrays.update({f.stem: np.load(f, mmap_mode="r", allow_pickle=False)
                   for f in sorted((path / MAPPED).glob("*.npy"))})
    return arrays


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes, read a megabyte at a time."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_checksums(path: Path) -> None:
    """Record the size and SHA-256 of every file under ``path`` in ``checksums.json``."""
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.name != CHECKSUMS)
    sums = {p.relative_to(path).as_posix(): {"bytes": p.stat().st_size, "sha256": file_sha256(p)}
            for p in files}
    (path / CHECKSUMS).write_text(json.dumps(sums, indent=1))


def verify_checksums(path: Path) -> None:
    """Raise :class:`IncompatibleModelError` naming the first file that is missing or differs,
    or a mapped array that is there without being listed."""
    listed = path / CHECKSUMS
    if not listed.exists():
        raise IncompatibleModelError(f"{path}: no {CHECKSUMS}, so its files cannot be checked; "
                                     "it was written by an older shelfwise: retrain it")
    sums = json.loads(listed.read_text())
    # The mapped arrays are loaded by pattern (mapped/*.npy), so an unlisted one would be served
    # too. (Elsewhere MLflow adds files of its own, MLmodel and the like, that nothing loads.)
    extra = sorted(p.relative_to(path).as_posix() for p in (path / MAPPED).rglob("*")
                   if p.is_file() and p.relative_to(path).as_posix() not in sums)
    if extra:
        raise IncompatibleModelError(f"{path / extra[0]}: not written by training (not in {CHECKSUMS}); "
                                     "remove it or retrain")
    for name, expected in sums.items():
        file = path / name
        if not file.is_file():
            raise IncompatibleModelError(f"{file}: missing from the model")
        size = file.stat().st_size
        if size != expected["bytes"]:
            raise IncompatibleModelError(f"{file}: {size:,} bytes, {expected['bytes']:,} when it was "
                                         "trained (truncated or replaced)")
        if file_sha256(file) != expected["sha256"]:
            raise IncompatibleModelError(f"{file}: content differs from when it was trained (corrupt)")


def check_model(path: Path, family: str) -> dict:
    """Check a model directory of ``family`` (recs, churn or cltv) against this code: format,
    feature set and file checksums. Returns its ``meta.json``.

    Raises
    ------
    IncompatibleModelError
        Saying what is wrong, in which file, and what to do.
    """
    meta_file = path / META
    if not meta_file.exists():
        raise IncompatibleModelError(f"{path}: no {META}; not a shelfwise model")
    try:
        meta = json.loads(meta_file.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise IncompatibleModelError(f"{meta_file}: not JSON ({exc})") from None
    expected = FORMATS[family]
    if meta.get("format") != expected:
        raise IncompatibleModelError(
            f"{path}: model format {meta.get('format')!r}, this code reads {expected!r} for {family}")
    verify_checksums(path)  # before reading more of meta.json than its format
    if family == "recs":
        if meta.get("features") != list(CANDIDATE_FEATURES):
            raise IncompatibleModelError(
                f"{path}: ranker trained on features of {meta.get('feature_set')!r} that differ from "
                "this code's; retrain recs with the current code")
    else:
        try:
            columns = list(get_feature_set(meta.get("feature_set")).columns)
        except KeyError as exc:
            raise IncompatibleModelError(f"{path}: {exc.args[0]}; retrain with the current code") from None
        if meta.get("feature_columns") != columns:
            raise IncompatibleModelError(
                f"{path}: feature set {meta['feature_set']!r} had other columns at training time; "
                "retrain with the current code")
    return meta
