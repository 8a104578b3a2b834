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
