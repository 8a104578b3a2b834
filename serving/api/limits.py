"""Request limits: JSON bodies only, none over ``max_body_bytes``, and no client may take
longer than ``body_seconds`` to send one.

Every POST, PUT and PATCH must say ``Content-Type: application/json``, even one without a
body (``POST /admin/reload``): a web page can make a browser send a form, text or an empty
body to another site without asking it first, but not a JSON one, which needs the site's
consent (CORS preflight, which this service never gives). So a hostile page cannot make a
signed-in browser call a write endpoint (cross-site request forgery).

The whole body is read here, before the service sees the request, with one deadline for all
of it: a client that trickles bytes (or stops sending) gets 408 and its connection closed,
and one that sends too much gets 413 as soon as the excess arrives (at once, when its
``Content-Length`` says so). Reading happens on the event loop, so waiting clients hold a
socket, not one of the threads that answer requests: the service keeps answering everyone
else meanwhile. List lengths and ``k`` are bounded by the request models
(:mod:`serving.api.schemas`).
"""

from __future__ import annotations

import asyncio

from serving.api.access import reply

CLOSE = [(b"connection", b"close")]


class LimitsMiddleware:
    def __init__(self, app, max_body_bytes: int, body_seconds: float):
        self.app, self.max_body_bytes, self.body_seconds = app, max_body_bytes, body_seconds

    def _too_large(self, size: str) -> str:
        return (f"request body{size} over the limit of {self.max_body_bytes:,} bytes; "
                "send fewer events or items per call")

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        kind = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if kind != b"application/json" and scope["method"] in ("POST", "PUT", "PATCH"):
            said = f"Content-Type {kind.decode('latin-1')!r}" if kind else "no Content-Type"
            return await reply(send, 415, f"{said}: every {scope['method']} takes `Content-Type: "
                               "application/json`, even without a body")
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body_bytes):
            return await reply(send, 413 if declared.isdigit() else 400,
                               self._too_large(f" of {declared.decode('latin-1')} bytes is"))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.body_seconds
        body, more = bytearray(), True
        while more:
            try:
                message = await asyncio.wait_for(receive(), max(deadline - loop.time(), 0.0))
            except TimeoutError:
                return await reply(send, 408, f"the request body did not arrive in {self.body_seconds:g} s",
                                   CLOSE)
            if message["type"] == "http.disconnect":  # answered in case anyone still listens
                return await reply(send, 400, "the request ended before its body arrived", CLOSE)
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_body_bytes:
                return await reply(send, 413, self._too_large(""), CLOSE)
        replayed = False

        async def replay():
            nonlocal replayed
            if replayed:
                return await receive()  # after the body: disconnect notices, as usual
            replayed = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        return await self.app(scope, replay, send)
