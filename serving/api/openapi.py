"""The service's OpenAPI document: shelfwise's title, version, roles and key scheme over
BentoML's document, and JSON Schema as OpenAPI 3.0 reads it (BentoML writes an OpenAPI 3.0
document, pydantic writes JSON Schema 2020, and they differ on how to say "or null" and
"greater than")."""

from __future__ import annotations

import json


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


DESCRIPTION = """Personalization for online shops: product recommendations for storefronts, churn and
lifetime-value scores, segments and offers for marketers.

Every endpoint but the probes and this document needs an API key: press **Authorize** and
paste one (`shelfwise keys create --role ROLE`). Each operation's tag names the role allowed
to call it; admin keys may call everything. Every POST sends `Content-Type: application/json`."""
ROLE_TAGS = {
    "storefront": "The shop's pages, from its servers: recommendations and events.",
    "catalogue": "The shop's back office or feed: stock, prices, new items.",
    "marketer": "Customer scores, segments and their exports, offers, the report.",
    "admin": "Reloading models, forgetting customers; admin keys may call every operation.",
    "monitoring": "Prometheus metrics.",
    "open": "Probes and this document: no key needed.",
}


def role_of(method: str, path: str, may_call, is_open) -> str:
    """The narrowest role that may call ``method path`` (``open`` when no key is needed)."""
    if is_open(path):
        return "open"
    example = path.replace("{customer_id}", "13085").replace("{name}", "x")
    return next((role for role in ROLE_TAGS if role not in ("admin", "open")
                 and may_call(role, method.upper(), example)), "admin")


# What every operation that needs a key may also answer (serving.api.access, serving.api.limits).
REFUSED = {"type": "object", "properties": {"error": {"type": "string"}, "detail": {"type": "string"}},
           "required": ["error"]}
KEY_ANSWERS = {"401": "No API key, or an unknown one.", "403": "The key's role may not call this.",
               "503": "A model family this needs has no champion yet (the workspace could not train it): "
                      "the message names the family and the command that trains it."}
BODY_ANSWERS = {"413": "The body is over the size limit.", "415": "The body is not declared as JSON."}


def document(spec: dict, version: str, may_call, is_open) -> dict:
    """BentoML's OpenAPI document as shelfwise's: its title, version and description, a tag
    per role on every operation, and the bearer-key security scheme, so that "Try it out"
    sends the key."""
    spec["info"] = {"title": "shelfwise", "version": version, "description": DESCRIPTION,
                    "license": {"name": "Apache-2.0"}}
    spec["tags"] = [{"name": role, "description": text} for role, text in ROLE_TAGS.items()]
    # Only the bearer scheme is documented (X-API-Key works too): a client generated from the
    # document then sends one key header, not two that could disagree.
    spec.setdefault("components", {})["securitySchemes"] = {
        "bearer": {"type": "http", "scheme": "bearer", "description": "An API key of the role in the tag."},
    }
    spec["security"] = [{"bearer": []}]
    for path, item in spec.get("paths", {}).items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or method not in ("get", "post", "put", "patch", "delete"):
                continue
            role = role_of(method, path, may_call, is_open)
            operation["tags"] = [role]
            if role == "open":
                operation["security"] = []
                continue
            answers = {**KEY_ANSWERS, **(BODY_ANSWERS if method in ("post", "put", "patch") else {})}
            responses = operation.setdefault("responses", {})
            for code, text in answers.items():
                responses.setdefault(code, {"description": text,
                                            "content": {"application/json": {"schema": REFUSED}}})
    return spec


class DocumentMiddleware:
    """ASGI middleware: ``GET /docs.json`` answers :func:`document` of BentoML's document."""

    def __init__(self, app, version: str, may_call, is_open, path: str = "/docs.json"):
        self.app, self.version, self.may_call, self.is_open, self.path = app, version, may_call, is_open, path

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] != self.path or scope["method"] != "GET":
            return await self.app(scope, receive, send)
        start, chunks = {}, []

        async def keep(message):
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, keep)
        body = b"".join(chunks)
        if start.get("status") == 200:
            body = json.dumps(document(json.loads(body), self.version, self.may_call, self.is_open)).encode()
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        await send({"type": "http.response.start", "status": start.get("status", 500),
                    "headers": [*headers, (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
