from serving.api.openapi import as_openapi30


def test_or_null_becomes_nullable_and_the_rest_of_the_choice_stays():
    schema = {"properties": {
        "k": {"type": "integer"},
        "price": {"anyOf": [{"type": "number", "minimum": 0}, {"type": "null"}], "default": None},
        "category": {"anyOf": [{"type": "string"}, {"type": "array"}, {"type": "null"}]},
        "filter": {"anyOf": [{"$ref": "#/components/schemas/SegmentFilter"}, {"type": "null"}]},
    }}
    as_openapi30(schema)
    assert schema["properties"] == {
        "k": {"type": "integer"},
        "price": {"type": "number", "minimum": 0, "default": None, "nullable": True},
        "category": {"anyOf": [{"type": "string"}, {"type": "array"}], "nullable": True},
        "filter": {"anyOf": [{"$ref": "#/components/schemas/SegmentFilter"}], "nullable": True},
    }


def test_exclusive_bounds_become_openapi30_flags():
    schema = {"properties": {
        "share": {"anyOf": [{"type": "number", "exclusiveMinimum": 0, "maximum": 100}, {"type": "null"}]},
        "sizes": {"type": "array", "items": {"type": "integer", "exclusiveMaximum": 10}},
    }}
    as_openapi30(schema)
    assert schema["properties"] == {
        "share": {"type": "number", "minimum": 0, "exclusiveMinimum": True, "maximum": 100, "nullable": True},
        "sizes": {"type": "array", "items": {"type": "integer", "maximum": 10, "exclusiveMaximum": True}},
    }
