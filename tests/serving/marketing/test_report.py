import re
from pathlib import Path

import pandas as pd

from features.workspace import Workspace
from serving.marketing.report import write_report
from serving.marketing.tools import Marketing, report_path
from serving.runtime.score_table import ScoredCustomers
from tests.conftest import assert_charts_drawn

CHARTS = {"segment-sizes", "value-by-segment", "churn-risk", "cohort-retention", "categories-by-segment"}


def marketing(marketing_shop, home: Path) -> tuple[Marketing, Workspace]:
    orders, customers, items, scorer, recs = marketing_shop
    ws = Workspace(home)
    ws.write_table("orders", orders, "fixture")
    ws.write_table("customers", customers.assign(first_seen=orders["timestamp"].min()), "fixture")
    ws.write_table("items", items.assign(in_stock=True, first_seen=orders["timestamp"].min()), "fixture")
    items = ws.read_table("items")
    scored = ScoredCustomers.compute(scorer, orders, ws.read_table("customers"), items)
    return Marketing.build(ws, scored, recs, {"churn": "shelfwise-churn/1"}, items), ws


def test_report_is_one_self_contained_page_with_the_last_plan(marketing_shop, tmp_path):
    m, ws = marketing(marketing_shop, tmp_path / "home")
    page = write_report(m, ws, tmp_path / "out").read_text()
    assert "No campaign planned yet" in page
    assert report_path(ws).read_text() == page  # the copy the service serves
    # Nothing to fetch: no external scripts, styles or images.
    assert "http://" not in page and "https://" not in page and "<script" not in page
    m.plan("winter-retention")
    page = write_report(m, ws, tmp_path / "out").read_text()
    assert 'data-chart="campaign-plan"' in page and "winter-retention" in page


def test_report_charts_are_drawn_in_a_real_browser(marketing_shop, tmp_path, browser):
    m, ws = marketing(marketing_shop, tmp_path / "home")
    m.plan("winter-retention")
    path = write_report(m, ws, tmp_path / "out")
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    page.goto(path.as_uri())
    assert page.title().startswith("shelfwise: customer base as of 2011-12-01")
    assert_charts_drawn(page, CHARTS | {"campaign-plan"}, "report-fixture.png")
    page.close()


def test_a_category_with_dollar_signs_is_drawn_as_text(marketing_shop, tmp_path):
    orders, customers, items, scorer, recs = marketing_shop
    shop = (orders, customers, items.assign(category=items["category"].replace("garden", "gifts $x^$ & more")),
            scorer, recs)
    m, ws = marketing(shop, tmp_path / "home")
    assert "gifts $x^$ &amp; more" in write_report(m, ws, tmp_path / "out").read_text()


def test_the_report_shows_what_the_answers_shown_lately_earned(marketing_shop, tmp_path):
    import json
    import time

    m, ws = marketing(marketing_shop, tmp_path / "home")
    assert "No answers shown in the last 30 days" in write_report(m, ws, tmp_path / "out").read_text()
    store = ws.live_store()
    now = time.time()
    store.append_exposures([("r1", "/recommend", "champion", "v1", "c1", None, json.dumps(["i1", "i2"]), now, 1.0, 200),
                            ("r0", "/recommend", "champion", "v1", "c1", None, json.dumps(["i1"]), now - 40 * 86400,
                             1.0, 200)])
    store.append_events([{"event_id": "e1", "user_id": "c1", "session_id": None, "item_id": "i2",
                          "event_type": "purchase", "timestamp": pd.Timestamp.now(tz="UTC"), "price": 12.5,
                          "quantity": 2.0, "recommendation_id": "r1"}])
    page = write_report(m, ws, tmp_path / "out").read_text()
    assert 'data-chart="attribution"' in page
    row = re.search(r"<td>/recommend</td>(.*?)</tr>", page[page.index("What the lists and offers earned"):], re.S)
    cells = re.findall(r"<td>(.*?)</td>", row.group(1))
    # variant, exposures (the one of 40 days ago is left out), clicks, click-through, add-to-carts,
    # purchases, conversion, revenue (12.5 x 2), revenue per 1,000 exposures.
    assert cells == ["champion", "1", "0", "0.00", "0", "1", "1.00", "25.00", "25,000.00"]
