import json

from serving.schemas import RecommendedItem, RecommendResponse, item_fields, recommend_json

ITEMS = [("85123A", "WHITE HANGING HEART T-LIGHT HOLDER", 0.8125, "personal", "home", 2.55),
         ("22423", 'REGENCY CAKESTAND 3 TIER "DELUXE" – café', 1e-7, "trending", "", float("nan")),
         ("POST", "POSTAGE\\\n", -0.11985240366144592, "popular", "fees", 18.0),
         ("X", "", float("inf"), "similar_to_recent", "", 1e16)]


def _pydantic(fields: list[dict], **response) -> bytes:
    return RecommendResponse(items=[RecommendedItem(**f) for f in fields], **response).model_dump_json().encode()


def test_recommend_json_writes_the_bytes_pydantic_writes():
    fields = [item_fields(*row) for row in ITEMS]
    for response in ({"model_version": "shelfwise-recs/3", "user_id": "13085", "session_id": None,
                      "fallback": False, "include_purchased": True},
                     {"model_version": "shelfwise-recs/3", "user_id": None, "session_id": "s-1",
                      "fallback": True, "include_purchased": False}):
        assert recommend_json(fields, **response) == _pydantic(fields, **response)


def test_an_unknown_price_is_null_and_text_stays_utf8():
    body = recommend_json([item_fields(*ITEMS[1])], "shelfwise-recs/3", None, "s-1", True, False)
    assert json.loads(body)["items"][0]["price"] is None
    assert "café".encode() in body
