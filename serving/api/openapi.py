"""JSON Schema as OpenAPI 3.0 reads it: BentoML writes an OpenAPI 3.0 document, pydantic
writes JSON Schema 2020, and they differ on how to say "or null" and "greater than"."""

from __future__ import annotations


def as_openapi30(schema: dict) -> None:
    """Rewrite a model's property schemas in OpenAPI 3.0's dialect, in place.

    - ``anyOf: [X, {"type": "null"}]`` becomes ``X`` with ``nullable: true``. OpenAPI 3.0 has
      no ``"type": "null"``: BentoML keeps only the first type of an ``X | None`` request
      field (so a null it accepts broke its own document), and copies nested models as they
      are (so schemathesis generated no requests for them).
    - ``exclusiveMinimum: x`` (a number in 2020) becomes ``minimum: x`` with
      ``exclusiveMinimum: true`` (a flag in 3.0), and the same for the maximum.

    All of it was found by the fuzz run (``benchmarks/fuzz.py``). Used as pydantic's
    ``json_schema_extra``.
    """
    for prop in schema.get("properties", {}).values():
        options = prop.get("anyOf", [])
        if any(option.get("type") == "null" for option in options):
            rest = [option for option in options if option.get("type") != "null"]
            del prop["anyOf"]
            if len(rest) == 1 and "$ref" not in rest[0]:
                prop.update(rest[0])
            else:  # a model reference, or several types: keep the choice without the null
                prop["anyOf"] = rest
            prop["nullable"] = True
        for part in (prop, *prop.get("anyOf", ()), prop.get("items") or {}):
            _exclusive_bounds(part)


def _exclusive_bounds(schema: dict) -> None:
    for exclusive, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        value = schema.get(exclusive)
        if isinstance(value, int | float) and not isinstance(value, bool):
            schema[bound], schema[exclusive] = value, True
