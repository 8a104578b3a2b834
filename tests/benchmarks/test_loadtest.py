import pandas as pd

from benchmarks.loadtest import live_lists_us, summarize, with_worker_split

WRK = {"requests": 1000, "seconds": 5.0, "rps": 200.0, "p50_ms": 2.0, "p99_ms": 9.0}


def test_a_run_whose_connections_all_landed_on_one_worker_is_told_apart():
    both = with_worker_split(WRK, [10.0, 20.0], [10.2, 20.3])
    assert both["both_workers"] and round(both["min_share"], 2) == 0.4 and round(both["cpu_us"]) == 500
    one = with_worker_split(WRK, [10.0, 20.0], [10.01, 20.49])
    assert not one["both_workers"] and round(one["min_share"], 2) == 0.02
    unseen = with_worker_split(WRK, [], [])
    assert unseen["min_share"] is None and unseen["cpu_us"] is None


def test_medians_count_two_worker_runs_and_fall_back_to_all_runs_when_there_are_none():
    def run(endpoint, c, rps, share):
        return {"endpoint": endpoint, "concurrency": c, "rps": rps, "p50_ms": 1.0, "p99_ms": 5.0,
                "cpu_us": 300.0, "min_share": share, "both_workers": share is not None and share >= 0.25}

    runs = pd.DataFrame([run("/ping", 8, 6000, 0.45), run("/ping", 8, 3500, 0.02), run("/ping", 8, 5800, 0.48),
                         run("/recommend", 8, 2000, 0.01), run("/recommend", 8, 2200, 0.03),
                         run("/ping", 1, 900, 0.0), run("/ping", 1, 1000, 0.0)])
    table = summarize(runs)
    assert table.loc[("/ping", 8), "rps"] == 5900 and table.loc[("/ping", 8), ["runs", "of"]].tolist() == [2, 3]
    assert table.loc[("/recommend", 8), "rps"] == 2100 and table.loc[("/recommend", 8), "runs"] == 0
    assert table.loc[("/ping", 1), "rps"] == 950 and table.loc[("/ping", 1), "runs"] == 2  # one connection


def test_live_list_timings_cover_first_cached_and_folded_in_lists(blended_dir, tmp_path):
    us = live_lists_us(blended_dir[0], 5, tmp_path)
    assert list(us) == ["first", "cached", "live, first", "live, later"]
    assert all(v > 0 for v in us.values())
    assert (tmp_path / "live.sqlite").exists()  # its events went to a store of its own
