import json

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


def test_the_document_is_shelfwises_with_a_role_tag_per_operation_and_the_key_scheme():
    from serving.api.access import is_open, may_call
    from serving.api.openapi import document

    spec = {"info": {"title": "shelfwise", "version": "None", "contact": {"name": "BentoML Team"}}, "paths": {
        "/recommend": {"post": {}}, "/items": {"post": {}}, "/customer": {"post": {}},
        "/segments/{name}/export": {"get": {}}, "/customers/{customer_id}": {"delete": {}},
        "/metrics": {"get": {}}, "/readyz": {"get": {}}, "/admin/reload": {"post": {}}}}

    out = document(spec, "0.1.0+gabc", may_call, is_open)

    assert out["info"]["title"] == "shelfwise" and out["info"]["version"] == "0.1.0+gabc"
    assert "BentoML" not in json.dumps(out["info"])
    assert out["components"]["securitySchemes"]["bearer"] == {
        "type": "http", "scheme": "bearer", "description": "An API key of the role in the tag."}
    assert {path: op["tags"][0] for path, item in out["paths"].items() for op in item.values()} == {
        "/recommend": "storefront", "/items": "catalogue", "/customer": "marketer",
        "/segments/{name}/export": "marketer", "/customers/{customer_id}": "admin", "/metrics": "monitoring",
        "/readyz": "open", "/admin/reload": "admin"}
    assert out["paths"]["/readyz"]["get"]["security"] == [] and "security" not in out["paths"]["/recommend"]["post"]
    # A request without a key, or with another role's, gets an answer the document describes.
    assert {"401", "403", "413", "415"} <= set(out["paths"]["/recommend"]["post"]["responses"])
    assert {"401", "403"} <= set(out["paths"]["/segments/{name}/export"]["get"]["responses"])
    # A service missing a model family answers its endpoints 503 with a message: documented too.
    assert "has no champion yet" in out["paths"]["/customer"]["post"]["responses"]["503"]["description"]
    assert "responses" not in out["paths"]["/readyz"]["get"]
