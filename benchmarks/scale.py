"""shelfwise at a real shop's size: every step's wall time and peak memory, S to M to L.

``python -m benchmarks.scale --size S`` (``make bench-scale SIZE=S``) generates a retail shop
of that size (:data:`features.sources.synthetic.RETAIL`: S 10k customers and 5k items, M 100k
and 30k, L 1M and 100k; seeded, written as the shop's Parquet export, never committed) and
runs the pipeline on it as a shop would, each step a ``shelfwise`` process measured on its
own (wall time, peak resident memory by ``wait4``): ingest through the mapping loader,
simulated events, the feature snapshot, train recs, churn and CLTV, batch scores. Then the
service: time until ready, resident memory per worker, and (with wrk installed)
``benchmarks.loadtest`` at concurrency 8 against the same service's ``/ping``. A step that
fails ends the run; the table says which and why (out of memory, say).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.service import running_service
from benchmarks.zoo import env, shelfwise
from features.sources.synthetic import MAPPING_TOML, RETAIL

ROOT = Path(__file__).resolve().parent.parent
LOAD_RUNS = 5  # counted load runs per endpoint, their median reported
# What `features build` and `score customers` say when they hold a part of the customers at a time.
PARTS = re.compile(r"(?:customers built in|into) (\d+) parts")


STEPS = ("generate", "ingest", "events simulate", "features build", "train recs", "train churn", "train cltv",
         "batch scores")


def run(size: str, home: Path, say=print, serve: bool = True, start: str = STEPS[0],
        skip: Sequence[str] = ()) -> list[dict]:
    """Every step of one size from ``start`` on but those in ``skip`` (the output of those not
    run in ``home``); a row per step run: ``step, seconds, peak_mb, note``."""
    home.mkdir(parents=True, exist_ok=True)
    log, export = home / "scale.log", home / "export"
    export.mkdir(exist_ok=True)
    rows = []
    skip = set(STEPS[:STEPS.index(start)]) | set(skip)

    # `python -m training`: the `shelfwise` command's entry point, with its process settings
    # (one BLAS thread, Arrow's allocator), as a shop runs it.
    def step(name: str, *args: str, module: str = "training", ok=(0,)) -> str | None:
        if name in skip:
            return ""
        code, secs, peak, text = shelfwise(home, *args, log=log, module=module)
        failed = code not in ok
        parts = PARTS.search(text)
        note = (f"failed (exit {code}): {(text.strip().splitlines() or ['?'])[-1][:160]}" if failed
                else f"customers in {parts.group(1)} parts" if parts else "")
        rows.append({"step": name, "seconds": secs, "peak_mb": peak, "note": note})
        say(f"[scale {size}] {name}: {secs:.1f} s, peak {peak:,.0f} MB {note}".rstrip())
        return None if failed else text

    (export / "orders.toml").write_text(MAPPING_TOML)
    script = (f"from features.sources.synthetic import RETAIL, write_retail; "
              f"print(write_retail(RETAIL[{size!r}], {str(export / 'orders.parquet')!r}))")
    if step("generate", "-c", script, module="") is None:
        return rows
    mapping, lines = str(export / "orders.toml"), str(export / "orders.parquet")
    if step("ingest", "ingest", "--mapping", mapping, lines) is None:
        return rows
    if step("events simulate", "events", "simulate", "--seed", "0") is None:
        return rows
    if step("features build", "features", "build", "--as-of", _features_as_of(home)) is None:
        return rows
    trained = {family: step(f"train {family}", "train", family, ok=(0, 3)) is not None
               for family in ("recs", "churn", "cltv")}
    step("batch scores", "score", "customers", "--out", str(home / "scores.parquet"))
    if serve:
        rows += _serve(home, log, size, say, load=trained["recs"])
    return rows


def _features_as_of(home: Path) -> str:
    """The as-of date `train` picks without one: the start of the data's last 90 days."""
    import pandas as pd

    from training.jobs.feasibility import recs_as_of

    orders = pd.read_parquet(home / "tables" / "orders.parquet", columns=["timestamp"])
    return recs_as_of(orders, None).date().isoformat()


def _serve(home: Path, log: Path, size: str, say, load: bool = True) -> list[dict]:
    import shutil

    import psutil

    from serving.api.access import KeyStore, keys_path

    keys, name = KeyStore(keys_path(home)), f"scale-{size}"
    if any(r.name == name for r in keys.records()):  # a kept workspace's earlier run made it
        keys.revoke(name)
    key = keys.create("storefront", name)[1]
    rows = []
    t0 = time.perf_counter()
    with running_service(env(home), log) as (proc, url):
        ready = time.perf_counter() - t0
        workers = [p for p in psutil.Process(proc.pid).children(recursive=True)
                   if "_bentoml_impl.worker" in " ".join(p.cmdline())]  # not the supervising `bentoml serve`
        rss = [p.memory_info().rss / 2**20 for p in workers]
        peaks = [_peak_rss_mb(p.pid) for p in workers]
        rows.append({"step": "service ready", "seconds": ready,
                     "peak_mb": max(peaks + rss, default=float("nan")),
                     "note": f"{len(rss)} workers, RSS {', '.join(f'{r:,.0f}' for r in rss)} MB "
                             f"(peak while starting {', '.join(f'{r:,.0f}' for r in peaks)} MB)"})
        say(f"[scale {size}] service ready in {ready:.1f} s; workers' RSS {rss}, peak while starting {peaks}")
        if not load:  # /recommend would answer 503: its figures would be of errors
            rows.append({"step": "load (concurrency 8)", "seconds": float("nan"), "peak_mb": float("nan"),
                         "note": "skipped: no recommender was trained"})
        elif shutil.which("wrk"):
            # Medians of counted runs: single 5-second runs of one L service differed nearly two to
            # one as the connections landed on one worker or both (benchmarks.md, "Scale").
            command = [sys.executable, "-m", "benchmarks.loadtest", "--url", url, "--key", key,
                       "--concurrency", "8", "--repeat", str(LOAD_RUNS), "--seconds", "5",
                       "--warmup-runs", "2", "--memory-users"]
            out = subprocess.run(command, env=env(home), cwd=ROOT, capture_output=True, text=True,
                                 timeout=900)
            with open(log, "a") as f:
                f.write(out.stdout + out.stderr)
            printed = out.stdout.splitlines()
            picked = [line.strip() for pattern in (r"targets at c=8", r"\s+c=8 /recommend, uncached: ",
                                                   r"event -> changed")
                      for line in printed if re.match(pattern, line)]
            # loadtest's verdicts are the bundled shop's targets, not this size's: left out.
            summary = [re.sub(r" \([<>]=? [\d.]+: (met|MISSED)\)", "", line)
                       .replace("targets at c=8:", f"c=8, medians of {LOAD_RUNS} counted runs: /recommend")
                       for line in picked]
            rows.append({"step": "load (concurrency 8)", "seconds": float("nan"), "peak_mb": float("nan"),
                         "note": "; ".join(summary) or f"no summary; see {log}"})
            # At ready one worker may still be loading: its memory is read again after the load.
            after = [p.memory_info().rss / 2**20 for p in workers if p.is_running()]
            rows.append({"step": "workers after the load", "seconds": float("nan"),
                         "peak_mb": max(after, default=float("nan")),
                         "note": f"RSS {', '.join(f'{r:,.0f}' for r in after)} MB"})
            say(f"[scale {size}] workers' RSS after the load {after}")
        else:
            rows.append({"step": "load (concurrency 8)", "seconds": float("nan"), "peak_mb": float("nan"),
                         "note": "skipped: wrk is not installed (apt-get install wrk)"})
    return rows


def _peak_rss_mb(pid: int) -> float:
    """The most memory process ``pid`` has held at once (Linux's VmHWM), in MB; NaN elsewhere."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def table(size: str, rows: list[dict]) -> list[str]:
    out = [f"| {size} step | wall time | peak memory | note |", "|---|---:|---:|---|"]
    for r in rows:
        secs = "-" if r["seconds"] != r["seconds"] else f"{r['seconds']:,.1f} s"
        peak = "-" if r["peak_mb"] != r["peak_mb"] else f"{r['peak_mb']:,.0f} MB"
        out.append(f"| {r['step']} | {secs} | {peak} | {r['note']} |")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", choices=sorted(RETAIL), default="S")
    p.add_argument("--keep", type=Path, default=None, help="keep the workspace in this folder")
    p.add_argument("--no-serve", action="store_true", help="stop after the batch scores")
    p.add_argument("--from", dest="start", choices=STEPS, default=STEPS[0],
                   help="start at this step, on the workspace --keep holds from an earlier run")
    p.add_argument("--skip", action="append", choices=STEPS[4:], default=[],
                   help="leave out this step (its earlier result in the --keep workspace stands); repeatable")
    args = p.parse_args(argv)
    if (args.start != STEPS[0] or args.skip) and not (args.keep and (args.keep / "tables").is_dir()):
        p.error("--from and --skip need --keep naming the workspace of an earlier run")
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"shelfwise-scale-{args.size}-") as tmp:
        rows = run(args.size, args.keep or Path(tmp), say=lambda m: print(m, flush=True),
                   serve=not args.no_serve, start=args.start, skip=args.skip)
    print("\n".join(table(args.size, rows)))
    print(f"[scale {args.size}] {time.perf_counter() - t0:.0f}s in all")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
