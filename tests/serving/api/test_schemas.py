import json

from serving.api.schemas import (
    ItemsResponse,
    RecommendedItem,
    RecommendResponse,
    item_fields,
    list_json,
    with_exposure,
)

ID = {"recommendation_id": "3f2c9a0e5b7d4e1f8a6c2b9d0e4f7a1c", "variant": "champion"}

ITEMS = [("85123A", "WHITE HANGING HEART T-LIGHT HOLDER", 0.8125, "personal", "home", 2.55),
         ("22423", 'REGENCY CAKESTAND 3 TIER "DELUXE" – café', 1e-7, "trending", "", float("nan")),
         ("POST", "POSTAGE\\\n", -0.11985240366144592, "popular", "fees", 18.0),
         ("X", "", float("inf"), "similar_to_recent", "", 1e16)]


def test_list_json_with_its_exposure_writes_the_bytes_pydantic_writes():
    fields = [item_fields(*row) for row in ITEMS]
    models = [RecommendedItem(**f) for f in fields]
    assert with_exposure(list_json(fields, "shelfwise-recs/3"), *ID.values()) == ItemsResponse(
        **ID, items=models, model_version="shelfwise-recs/3").model_dump_json().encode()
    for extra in ({"user_id": "13085", "session_id": None, "fallback": False, "include_purchased": True},
                  {"user_id": None, "session_id": "s-1", "fallback": True, "include_purchased": False}):
        assert with_exposure(list_json(fields, "shelfwise-recs/3", **extra), *ID.values()) == RecommendResponse(
            **ID, items=models, model_version="shelfwise-recs/3", **extra).model_dump_json().encode()
    assert with_exposure(list_json([], "shelfwise-recs/3"), "r", "b") == (
        b'{"recommendation_id":"r","variant":"b","items":[],"model_version":"shelfwise-recs/3"}')


def test_an_unknown_price_is_null_and_text_stays_utf8():
    body = list_json([item_fields(*ITEMS[1])], "shelfwise-recs/3")
    assert json.loads(body)["items"][0]["price"] is None
    assert "café".encode() in body
