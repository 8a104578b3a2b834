"""Every error answer in the one documented shape."""

from __future__ import annotations

import pytest

from serving.api.errors import normalize


@pytest.mark.parametrize(("body", "status", "expected"), [
    # BentoML's validation error: detail is a list of pydantic errors.
    ({"error": "1 validation error for Input", "detail": [
        {"type": "less_than_equal", "loc": ["k"], "msg": "Input should be less than or equal to 100"},
        {"type": "missing", "loc": ["body", "user_id"], "msg": "Field required"}]}, 400,
     {"error": "invalid request",
      "detail": "k: Input should be less than or equal to 100; user_id: Field required"}),
    # A validator's own message, without pydantic's prefix or the descriptor class's name.
    ({"error": "1 validation error for RecommendRequestIODescriptor", "detail": [
        {"type": "value_error", "loc": [], "msg": "Value error, give user_id (a customer) or session_id"}]}, 400,
     {"error": "invalid request", "detail": "give user_id (a customer) or session_id"}),
    # BentoML's 404: a one-element list.
    ([{"error": "customer_id 'x' is unknown"}], 404, {"error": "customer_id 'x' is unknown"}),
    # FastAPI's HTTPException and its validation error.
    ({"detail": "no segment named 'x'"}, 404, {"error": "no segment named 'x'"}),
    ({"detail": [{"loc": ["path", "customer_id"], "msg": "String should have at most 64 characters"}]}, 422,
     {"error": "invalid request", "detail": "path.customer_id: String should have at most 64 characters"}),
    ({"error": "no API key"}, 401, {"error": "no API key"}),
])
def test_error_bodies_take_the_documented_shape(body, status, expected):
    assert normalize(body, status) == expected


def test_every_workers_start_failure_reaches_the_watcher_once_per_distinct_reason(tmp_path, monkeypatch):
    from serving.api.errors import START_FAILURE_ENV, report_start_failure, start_failures

    failure = tmp_path / "failure.txt"
    monkeypatch.setenv(START_FAILURE_ENV, str(failure))
    assert start_failures(failure) == []
    report_start_failure(FileNotFoundError("meta.json is gone"))
    monkeypatch.setattr("os.getpid", lambda: 1)  # a second worker, same reason
    report_start_failure(FileNotFoundError("meta.json is gone"))
    monkeypatch.setattr("os.getpid", lambda: 2)  # a third, another reason
    report_start_failure(ValueError("model format 'something-else'"))
    assert start_failures(failure) == ["FileNotFoundError: meta.json is gone\n",
                                       "ValueError: model format 'something-else'\n"]
