import pytest

from features import numerics


def test_lightgbm_threads_default_to_two_and_follow_the_variable(monkeypatch):
    monkeypatch.delenv("SHELFWISE_LIGHTGBM_THREADS", raising=False)
    assert numerics.lightgbm_threads() == 2
    monkeypatch.setenv("SHELFWISE_LIGHTGBM_THREADS", "1")
    assert numerics.lightgbm_threads() == 1


@pytest.mark.parametrize("value", ["0", "two", "-1", ""])
def test_a_bad_thread_count_names_the_variable(monkeypatch, value):
    monkeypatch.setenv("SHELFWISE_LIGHTGBM_THREADS", value)
    with pytest.raises(ValueError, match="SHELFWISE_LIGHTGBM_THREADS"):
        numerics.lightgbm_threads()
