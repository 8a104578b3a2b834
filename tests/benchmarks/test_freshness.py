"""The freshness benchmark's table and chart, on literal rows."""

import numpy as np

from benchmarks.freshness import chart, table

ROW = {"shop": "grocery", "data_end": "2022-10-03", "tested_as_of": "2022-07-05", "customers": 940,
       "unknown_as_tested": 449, "seconds": {"as tested": 9.0, "brought up to date": 14.0, "refit at D": 11.0},
       "as tested": {"all": 0.5449, "discovery": 0.0980},
       "brought up to date": {"all": 0.9484, "discovery": 0.3051},
       "refit at D": {"all": 0.9467, "discovery": 0.3081}}
SKIPPED = {"shop": "thin", "data_end": "2022-10-03", "skipped": "no ranker on this history"}


def test_the_table_gives_each_model_all_and_discovery_and_says_why_a_shop_was_skipped():
    lines = table([ROW, SKIPPED])
    assert lines[0] == "| shop (data end) | customers (unknown as tested) | as tested | brought up to date | refit at D |"
    assert lines[2] == ("| grocery (2022-10-03) | 940 (449) | 0.5449 / 0.0980 (9 s) | 0.9484 / 0.3051 (14 s) "
                        "| 0.9467 / 0.3081 (11 s) |")
    assert lines[3] == "| thin (2022-10-03) | no ranker on this history | | | |"


def test_the_chart_draws_the_three_models_per_shop_for_both_lists():
    fig = chart([ROW, SKIPPED])
    assert [ax.get_title().split(":")[0] for ax in fig.axes] == ["for you, all purchases", "for you, discovery"]
    np.testing.assert_allclose([p.get_height() for p in fig.axes[0].patches], [0.5449, 0.9484, 0.9467])
    np.testing.assert_allclose([p.get_height() for p in fig.axes[1].patches], [0.0980, 0.3051, 0.3081])
