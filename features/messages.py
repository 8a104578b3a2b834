"""How a library's exception is quoted to a user: its first line, never its traceback."""

from __future__ import annotations


def first_line(exc: BaseException, limit: int | None = None) -> str:
    """The first line of ``exc``'s message (its type's name when it has none), cut to ``limit``
    characters when given: enough to say what went wrong beside the project's own words."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:limit]


def field_problems(errors: list, whole: str = "") -> str:
    """Pydantic's errors (``ValidationError.errors()``, or the list BentoML answers with) as
    ``"field: what is wrong; ..."``: the field's path without the ``body`` BentoML puts
    first (``whole`` where the error is about no one field), and a validator's own message
    without the ``"Value error, "`` pydantic puts before it."""
    parts = []
    for e in errors:
        if not isinstance(e, dict):
            parts.append(str(e))
            continue
        where = ".".join(str(x) for x in e.get("loc", ()) if x != "body") or whole
        msg = str(e.get("msg", "")).removeprefix("Value error, ")
        parts.append(f"{where}: {msg}" if where else msg)
    return "; ".join(parts)
