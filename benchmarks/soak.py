"""Soak test of the running service: mixed storefront and marketer traffic at a steady share of
its measured peak, minute by minute, with the service's resident memory beside it.

``python -m benchmarks.soak --url http://127.0.0.1:3000 --key ADMIN_KEY`` first measures the peak
requests/s of the mix (``wrk`` unpaced, median of three runs), then sends the
same mix at ``--share`` of it (default 0.8) for ``--minutes`` (default 10), one ``wrk`` run per
``--interval``. Requests are paced by a clock in wrk's Lua script (LuaJIT's FFI), so the rate
holds whatever the latency; a request sent late after a stall is timed from when it was sent
(no correction for coordinated omission, unlike wrk2). After every interval it sums the
resident memory of the server process and its workers.

It prints one row per interval (requests/s, p50, p99, errors, memory), the verdict on the
targets (every interval at 95% of the rate or more; zero errors; every interval's p99 within
twice the median interval's; memory at the end within 10% of memory after the first
interval), and writes ``soak.csv`` and ``soak.png`` to ``--out``.

Every request comes on a new connection (``Connection: close``), as through a balancer that
does not pool: the two workers share one listening socket, and a run's keep-alive
connections can all land on one of them (bentoml/BentoML#5426), which halves what the
service can do for that run. Soaks over keep-alive connections fell to half the rate in 3
of 10 minutes over 8 connections and in 1 of 10 over 32, so the figures measured the
socket, not the service.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.loadtest import WRK_DONE_LUA, wrk_result
from features import schema as s
from features.workspace import Settings, Workspace

# The mix: a storefront's page views with some marketing reads (weights per 100 requests).
MIX = {"recommend": 45, "similar_items": 15, "frequently_bought_together": 10, "buy_again": 10,
       "trending": 5, "events": 10, "customer": 5}
P99_SPREAD, MEMORY_GROWTH, RATE_HELD = 2.0, 0.10, 0.95

_LUA = r"""
local ffi = require("ffi")
ffi.cdef[[ typedef struct { long tv_sec; long tv_usec; } timeval; int gettimeofday(timeval *tv, void *tz); ]]
local tv = ffi.new("timeval")
local function now_ms()
  ffi.C.gettimeofday(tv, nil)
  return tonumber(tv.tv_sec) * 1000 + tonumber(tv.tv_usec) / 1000
end
local requests, i, interval, next_at = {}, 0, 0, nil
init = function(args)
  -- A new connection per request: see the module docstring.
  local headers = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. args[2],
                   ["Connection"] = "close"}
  for line in io.lines(args[1]) do
    local path, body = line:match("^(%S+) (.*)$")
    requests[#requests + 1] = wrk.format("POST", path, headers, body)
  end
  local rate = tonumber(args[3])
  if rate > 0 then interval = 1000 / rate end
end
delay = function()
  if interval == 0 then return 0 end
  local now = now_ms()
  -- One schedule for the thread: a send every `interval` ms, whichever connection is free.
  -- After a stall longer than a second, start again from now instead of sending a burst.
  if next_at == nil or next_at < now - 1000 then next_at = now end
  next_at = next_at + interval
  return math.max(0, next_at - interval - now)
end
request = function()
  i = i % #requests + 1
  return requests[i]
end
""" + WRK_DONE_LUA


def mixed_requests(orders: pd.DataFrame, n: int = 2000, seed: int = 0) -> list[str]:
    """``n`` request lines ("PATH JSON") in the proportions of :data:`MIX`, shuffled, from the
    workspace's customers and items."""
    rng = np.random.default_rng(seed)
    customers = orders[s.CUSTOMER_ID].drop_duplicates().to_numpy()
    items = orders[s.ITEM_ID].value_counts().index[:500].to_numpy()
    paths = rng.choice(list(MIX), size=n, p=np.array(list(MIX.values())) / sum(MIX.values()))
    lines = []
    for j, path in enumerate(paths):
        customer, item = str(rng.choice(customers)), str(rng.choice(items))
        body = {"recommend": {"user_id": customer, "k": 10},
                "similar_items": {"item_id": item, "k": 10},
                "frequently_bought_together": {"item_ids": [item, str(rng.choice(items))], "k": 5},
                "buy_again": {"user_id": customer, "k": 10},
                "trending": {"k": 10},
                "events": {"events": [{"session_id": f"soak-{seed}-{j % 200}", "item_id": item,
                                       "event_type": "view"}]},
                "customer": {"customer_id": customer}}[path]
        lines.append(f"/{path} {json.dumps(body)}")
    return lines


def run_wrk(url: str, lines_file: Path, script: Path, key: str, seconds: float, rate: float,
            concurrency: int) -> dict:
    """One wrk run of the mix, paced at ``rate`` requests/s (0: as fast as it can)."""
    out = subprocess.run(["wrk", "-t1", f"-c{concurrency}", f"-d{int(seconds)}s", "--timeout", "10s",
                          "-s", str(script), url, "--", str(lines_file), key, str(rate)],
                         capture_output=True, text=True, check=True)
    result = wrk_result(out.stdout)
    result["errors"] = result["socket_errors"] + result["non_2xx"]
    return result


def server_rss_mb(port: int) -> float:
    """Resident memory (MiB) of the ``bentoml serve`` process listening on ``port`` and all
    its descendants (the workers)."""
    import psutil

    for proc in psutil.process_iter(["cmdline"]):
        args = proc.info["cmdline"] or []
        if "serve" in args and "serving.api.service:Shelfwise" in args and str(port) in args:
            rss = 0
            for p in [proc, *proc.children(recursive=True)]:
                try:
                    rss += p.memory_info().rss
                except psutil.NoSuchProcess:  # gone meanwhile
                    pass
            return rss / 2**20
    raise RuntimeError(f"no `bentoml serve serving.api.service:Shelfwise` process on port {port}")


def verdict(intervals: pd.DataFrame, rate: float) -> dict:
    """The soak targets on the interval table: the rate held, no errors, p99 and memory stable."""
    p99 = intervals["p99_ms"]
    first, last = intervals["rss_mb"].iloc[0], intervals["rss_mb"].iloc[-1]
    short = int((intervals["rps"] < RATE_HELD * rate).sum())
    return {"errors": int(intervals["errors"].sum()), "intervals_short_of_rate": short,
            "p99_max_over_median": float(p99.max() / p99.median()),
            "memory_growth": float(last / first - 1),
            "met": bool(intervals["errors"].sum() == 0 and short == 0
                        and p99.max() <= P99_SPREAD * p99.median() and last <= (1 + MEMORY_GROWTH) * first)}


def plot(intervals: pd.DataFrame, path: Path, share: float, rate: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.5))
    minutes = intervals["end_s"] / 60
    a.plot(minutes, intervals["p50_ms"], marker="o", label="p50")
    a.plot(minutes, intervals["p99_ms"], marker="o", label="p99")
    a.set(xlabel="minutes", ylabel="latency (ms)", ylim=(0, None),
          title=f"latency at {share:.0%} of peak ({rate:.0f} requests/s)")
    a.legend()
    b.plot(minutes, intervals["rss_mb"], marker="o", color="tab:green")
    b.set(xlabel="minutes", ylabel="MiB", title="service resident memory (server and workers)",
          ylim=(0, 1.2 * intervals["rss_mb"].max()))
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", default="http://127.0.0.1:3000")
    p.add_argument("--key", default=os.environ.get("SHELFWISE_API_KEY"),
                   help="an admin API key (the mix includes marketer endpoints; default: $SHELFWISE_API_KEY)")
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--interval", type=float, default=60.0, help="seconds per measured interval")
    p.add_argument("--share", type=float, default=0.8, help="of the measured peak")
    p.add_argument("--probe-seconds", type=float, default=10.0, help="per peak-measuring run (three runs)")
    p.add_argument("--concurrency", type=int, default=8, help="requests in flight")
    p.add_argument("--out", type=Path, default=Path("soak"), help="directory for soak.csv and soak.png")
    args = p.parse_args(argv)
    if not args.key:
        p.error("give an admin API key: --key KEY or SHELFWISE_API_KEY "
                "(`shelfwise keys create --role admin`)")
    if shutil.which("wrk") is None:
        p.error("wrk is not installed; on Debian or Ubuntu: apt-get install wrk")
    port = int(args.url.rsplit(":", 1)[1].split("/")[0])
    orders = Workspace.from_settings(Settings()).read_table("orders")
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="shelfwise-soak-") as tmp:
        script, lines = Path(tmp) / "mix.lua", Path(tmp) / "mix.txt"
        script.write_text(_LUA)
        lines.write_text("\n".join(mixed_requests(orders)) + "\n")
        run_wrk(args.url, lines, script, args.key, 2, 0, 4)  # warm both workers up
        probes = [run_wrk(args.url, lines, script, args.key, args.probe_seconds, 0, args.concurrency)
                  for _ in range(3)]
        peak = float(np.median([r["rps"] for r in probes]))
        rate = args.share * peak
        runs = ", ".join(f"{r['rps']:.0f}" for r in probes)
        print(f"peak of the mix at c={args.concurrency}: {peak:.0f} req/s (runs: {runs}); "
              f"soaking at {rate:.0f} req/s for {args.minutes:g} min", flush=True)
        rows, elapsed = [], 0.0
        while elapsed < args.minutes * 60 - 1e-9:
            seconds = min(args.interval, args.minutes * 60 - elapsed)
            r = run_wrk(args.url, lines, script, args.key, seconds, rate, args.concurrency)
            elapsed += seconds
            rows.append({"end_s": elapsed, **{k: r[k] for k in ("rps", "p50_ms", "p99_ms", "errors")},
                         "rss_mb": server_rss_mb(port)})
            row = rows[-1]
            print(f"{elapsed / 60:5.1f} min  {row['rps']:6.0f} req/s  p50 {row['p50_ms']:6.2f} ms  "
                  f"p99 {row['p99_ms']:6.2f} ms  errors {row['errors']}  memory {row['rss_mb']:,.0f} MiB",
                  flush=True)
    intervals = pd.DataFrame(rows)
    intervals.to_csv(args.out / "soak.csv", index=False)
    plot(intervals, args.out / "soak.png", args.share, rate)
    v = verdict(intervals, rate)
    total = int((intervals["rps"] * intervals["end_s"].diff().fillna(intervals["end_s"])).sum())
    print(f"about {total:,} requests, {v['errors']} errors; {v['intervals_short_of_rate']} intervals below "
          f"{RATE_HELD:.0%} of the rate; p99 max/median {v['p99_max_over_median']:.2f} "
          f"(<= {P99_SPREAD}); memory {v['memory_growth']:+.1%} from the first interval "
          f"(<= +{MEMORY_GROWTH:.0%}): {'met' if v['met'] else 'MISSED'}; {args.out / 'soak.csv'}, "
          f"{args.out / 'soak.png'}")
    return 0 if v["met"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
