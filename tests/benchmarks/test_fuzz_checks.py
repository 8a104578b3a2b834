"""The fuzz run's check: a 503 for an untrained model family is an answer, other 5xx are failures."""

from types import SimpleNamespace

import pytest
from schemathesis.core.failures import ServerError

from benchmarks.fuzz_checks import not_a_server_error_but_an_untrained_family as check

CASE = SimpleNamespace(operation=SimpleNamespace(label="POST /customer"))


def answer(status: int, body: bytes):
    return SimpleNamespace(status_code=status, content=body)


def test_a_503_naming_an_untrained_family_passes_and_any_other_server_error_fails():
    untrained = b'{"error": "/customer needs the churn and cltv models, which have no champion in this workspace yet"}'
    check(None, answer(503, untrained), CASE)
    check(None, answer(404, b'{"error": "no such customer"}'), CASE)
    for status, body in ((500, untrained), (503, b'{"error": "overloaded"}'), (502, b"")):
        with pytest.raises(ServerError):
            check(None, answer(status, body), CASE)
