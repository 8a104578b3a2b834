"""Body size and body time limits, driven with hand-made ASGI messages."""

from __future__ import annotations

import asyncio
import json

from serving.api.limits import LimitsMiddleware


async def _echo_length(scope, receive, send):
    message = await receive()
    body = json.dumps({"bytes": len(message["body"])}).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


def _run(chunks: list[bytes], headers: list | None = None, stall: bool = False, method: str = "POST",
         **limits):
    """Send ``chunks`` as the body (then stall, if asked); return (status, body) answered.
    A JSON Content-Type is sent unless ``headers`` name one (or are ``[]``)."""
    sent = []
    if headers is None:
        headers = [(b"content-type", b"application/json")]
    elif headers and not any(name == b"content-type" for name, _ in headers):
        headers = [(b"content-type", b"application/json"), *headers]

    async def receive():
        if chunks:
            chunk = chunks.pop(0)
            return {"type": "http.request", "body": chunk, "more_body": bool(chunks) or stall}
        await asyncio.sleep(3600)  # a client that stopped sending

    async def send(message):
        sent.append(message)

    app = LimitsMiddleware(_echo_length, **{"max_body_bytes": 100, "body_seconds": 0.2, **limits})
    scope = {"type": "http", "method": method, "path": "/events", "headers": headers}
    asyncio.run(asyncio.wait_for(app(scope, receive, send), 5))
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], json.loads(body)


def test_a_body_within_the_limits_reaches_the_service_whole():
    assert _run([b"a" * 40, b"b" * 40]) == (200, {"bytes": 80})


def test_a_declared_or_actual_body_over_the_limit_is_413():
    status, body = _run([b"x"], headers=[(b"content-length", b"5000")])
    assert status == 413 and "5000 bytes is over the limit of 100 bytes" in body["error"]
    status, body = _run([b"x" * 60, b"x" * 60])  # chunked, no length given
    assert status == 413 and "limit of 100 bytes" in body["error"]
    assert _run([b"x"], headers=[(b"content-length", b"ten")])[0] == 400


def test_a_client_that_stops_sending_gets_408_after_the_body_time():
    status, body = _run([b"{\"events\": ["], stall=True)
    assert status == 408 and "0.2 s" in body["error"]


def test_a_body_that_is_not_json_is_415_before_anything_parses_it():
    status, body = _run([b"--x--"], headers=[(b"content-type", b"multipart/form-data")])
    assert status == 415 and "application/json" in body["error"]
    assert _run([b"{}"], headers=[(b"content-type", b"application/json; charset=utf-8")])[0] == 200


def test_a_post_without_a_json_content_type_is_415_even_without_a_body():
    # What a hostile page can make a browser send cross-site without asking: no body, text, a form.
    for headers in ([], [(b"content-type", b"text/plain")], [(b"content-type", b"application/x-www-form-urlencoded")]):
        status, body = _run([b""], headers=headers)
        assert status == 415 and "Content-Type: application/json" in body["error"], headers
    assert _run([b""], headers=[], method="GET")[0] == 200
