"""Quoting a library's exception to a user."""

from features.messages import first_line


def test_an_exception_is_quoted_by_its_first_line_or_its_type():
    assert first_line(ValueError("  bad row 3\nTraceback (most recent call last): ...")) == "bad row 3"
    assert first_line(OSError()) == "OSError"
    assert first_line(ValueError("x" * 300), 200) == "x" * 200


def test_pydantic_errors_read_as_each_field_and_what_is_wrong():
    from features.messages import field_problems

    errors = [{"loc": ("body", "k"), "msg": "Input should be less than or equal to 100"},
              {"loc": (), "msg": "Value error, give user_id (a customer) or session_id"},
              "a plain message"]
    assert field_problems(errors, "request") == ("k: Input should be less than or equal to 100; "
                                                 "request: give user_id (a customer) or session_id; a plain message")
    assert field_problems(errors[1:2]) == "give user_id (a customer) or session_id"
