"""JSON Schema as OpenAPI 3.0 reads it: BentoML writes an OpenAPI 3.0 document, pydantic
writes JSON Schema 2020, and they differ on how to say "or null"."""

from __future__ import annotations


def nullable_as_openapi30(schema: dict) -> None:
    """Rewrite each property's ``anyOf: [X, {"type": "null"}]`` as ``X`` with ``nullable: true``.

    OpenAPI 3.0 has no ``"type": "null"``: BentoML keeps only the first type of an ``X | None``
    request field (so a null it accepts breaks its own document) and copies nested models as
    they are (so schemathesis refuses to generate requests for them). Both were found by the
    fuzz run (``serving/fuzz.py``). Used as pydantic's ``json_schema_extra``.
    """
    for prop in schema.get("properties", {}).values():
        options = prop.get("anyOf", [])
        if not any(option.get("type") == "null" for option in options):
            continue
        rest = [option for option in options if option.get("type") != "null"]
        del prop["anyOf"]
        if len(rest) == 1 and "$ref" not in rest[0]:
            prop.update(rest[0])
        else:  # a model reference, or several types: keep the choice without the null
            prop["anyOf"] = rest
        prop["nullable"] = True
