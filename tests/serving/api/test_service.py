import json
import os

import pytest
from opentelemetry.util.http import ExcludeList

from serving.api.service import Shelfwise

# The storefront's calls skip BentoML's tracing spans (their cost, README "The service under
# load"); the marketers' and admin calls stay traceable.
EXCLUDED = ExcludeList(Shelfwise.config["tracing"]["excluded_urls"])


@pytest.mark.parametrize("path", ["/recommend", "/similar_items", "/frequently_bought_together", "/buy_again",
                                  "/trending", "/events", "/ping", "/recommend?debug=1"])
def test_storefront_calls_are_not_traced(path):
    assert EXCLUDED.url_disabled(f"http://127.0.0.1:3000{path}")


@pytest.mark.parametrize("path", ["/customer", "/segments/query", "/segments/rfm-lost/export", "/offers/decide",
                                  "/admin/reload", "/items", "/report",
                                  "/recommendations"])  # a longer path that starts like a hot one
def test_marketer_admin_and_catalogue_calls_stay_traceable(path):
    assert not EXCLUDED.url_disabled(f"http://127.0.0.1:3000{path}")


def test_a_worker_imports_neither_the_reports_charts_nor_scipy_stats():
    # Each worker holds what it imports: matplotlib (the marketer report, drawn by `shelfwise
    # report`) and scipy.stats (the A/B tests' statistics) are about 75 MB a worker.
    import subprocess
    import sys

    code = ("import json, sys, serving.api.service; "
            "print(json.dumps([m in sys.modules for m in ('matplotlib', 'scipy.stats', 'sklearn')]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "BENTOML_DO_NOT_TRACK": "true"}).stdout
    assert json.loads(out.strip().splitlines()[-1]) == [False, False, False]
