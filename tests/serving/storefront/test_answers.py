from features.live.store import Shopper
from serving.storefront.answers import AnswerCache

QUIET = Shopper(forgotten=False, recent=(), item_update=3)


class Clock:
    now = 100.0

    def __call__(self) -> float:
        return self.now


def test_an_answer_is_served_again_only_for_an_equal_snapshot_before_it_expires():
    clock = Clock()
    cache = AnswerCache(clock=clock)
    cache.put(("u1", 10), QUIET, b"answer", valid_until=105.0, shown='["i1"]')
    assert cache.get(("u1", 10), Shopper(forgotten=False, recent=(), item_update=3)) == (b"answer", '["i1"]')
    assert cache.get(("u1", 5), QUIET) is None  # another request
    assert cache.get(("u1", 10), Shopper(False, (("i1", "view"),), 3)) is None  # an event since
    assert cache.get(("u1", 10), Shopper(False, (), 4)) is None  # a catalogue update since
    assert cache.get(("u1", 10), Shopper(True, (), 3)) is None  # forgotten since
    clock.now = 105.0
    assert cache.get(("u1", 10), QUIET) is None  # the trending list it used is recomputed now


def test_a_newer_answer_replaces_the_old_and_the_least_recently_used_go_past_the_byte_limit():
    cache = AnswerCache(max_bytes=10)
    cache.put("a", QUIET, b"1234", float("inf"))
    cache.put("a", QUIET, b"12345", float("inf"))
    cache.put("b", QUIET, b"12345", float("inf"))
    assert cache.size == 10 and cache.get("a", QUIET) == (b"12345", "")  # "a" is now the most recent
    cache.put("c", QUIET, b"123", float("inf"))
    assert cache.get("b", QUIET) is None and cache.get("a", QUIET) == (b"12345", "") and cache.size == 8
    cache.put("d", QUIET, b"12345678901", float("inf"))  # larger than the whole cache: not kept
    assert cache.get("d", QUIET) is None and len(cache) == 2
