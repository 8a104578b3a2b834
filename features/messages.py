"""How a library's exception is quoted to a user: its first line, never its traceback."""

from __future__ import annotations


def first_line(exc: BaseException, limit: int | None = None) -> str:
    """The first line of ``exc``'s message (its type's name when it has none), cut to ``limit``
    characters when given: enough to say what went wrong beside the project's own words."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:limit]
