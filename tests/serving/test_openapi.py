from serving.openapi import nullable_as_openapi30


def test_or_null_becomes_nullable_and_the_rest_of_the_choice_stays():
    schema = {"properties": {
        "k": {"type": "integer"},
        "price": {"anyOf": [{"type": "number", "minimum": 0}, {"type": "null"}], "default": None},
        "category": {"anyOf": [{"type": "string"}, {"type": "array"}, {"type": "null"}]},
        "filter": {"anyOf": [{"$ref": "#/components/schemas/SegmentFilter"}, {"type": "null"}]},
    }}
    nullable_as_openapi30(schema)
    assert schema["properties"] == {
        "k": {"type": "integer"},
        "price": {"type": "number", "minimum": 0, "default": None, "nullable": True},
        "category": {"anyOf": [{"type": "string"}, {"type": "array"}], "nullable": True},
        "filter": {"anyOf": [{"$ref": "#/components/schemas/SegmentFilter"}], "nullable": True},
    }
