"""Quoting a library's exception to a user."""

from features.messages import first_line


def test_an_exception_is_quoted_by_its_first_line_or_its_type():
    assert first_line(ValueError("  bad row 3\nTraceback (most recent call last): ...")) == "bad row 3"
    assert first_line(OSError()) == "OSError"
    assert first_line(ValueError("x" * 300), 200) == "x" * 200
