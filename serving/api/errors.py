"""One shape for every error answer, and client errors kept out of the log.

BentoML 1.4 answers a validation error with ``detail`` as a list of pydantic errors and a
404 as a one-element JSON list, while its own OpenAPI document promises an object whose
``detail`` is a string (found by the schema-driven fuzz run, :mod:`benchmarks.fuzz`). The
mounted FastAPI pages answer ``{"detail": ...}``. :class:`ErrorBodyMiddleware` rewrites
every JSON error body to the documented ``{"error": str, "detail": str}``, the detail naming
each field and what is wrong with it; successful answers pass untouched. Pydantic's headline
("1 validation error for RecommendRequestIODescriptor") names a class of BentoML's, not
anything the client sent, so it reads "invalid request".

BentoML also logs every client error with a traceback, and the message of a client error
repeats the client's input (customer ids included). :func:`keep_client_errors_out_of_the_log`
drops those records; server errors are still logged in full.

A worker that cannot start says why in the file ``python -m serving`` names in
:data:`START_FAILURE_ENV` (:func:`report_start_failure`); kept here, away from the model
code, so that the starting process does not import LightGBM to learn the variable's name.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path

from features.messages import field_problems

# Set by ``python -m serving``: where a worker writes why it could not start.
START_FAILURE_ENV = "SHELFWISE_START_FAILURE_FILE"


def report_start_failure(exc: Exception) -> None:
    """Tell ``python -m serving`` (when it started this worker) why start-up failed: one
    file per worker (``<path>.<pid>``), written whole and renamed into place, so the watcher
    sees every worker's reason and never half of one."""
    path = os.environ.get(START_FAILURE_ENV)
    if path:
        final = Path(f"{path}.{os.getpid()}")
        tmp = final.with_name(f".{final.name}")
        tmp.write_text(f"{type(exc).__name__}: {exc}\n")
        os.replace(tmp, final)


def start_failures(path: Path) -> list[str]:
    """The distinct reasons the workers reported through :func:`report_start_failure`."""
    return sorted({f.read_text() for f in path.parent.glob(f"{path.name}.*")})


PYDANTIC_HEADLINE = re.compile(r"^\d+ validation errors? for \w+$")


def normalize(body, status: int) -> dict:
    """An error body as ``{"error": str, "detail": str}`` (``detail`` only when there is one)."""
    if isinstance(body, list) and len(body) == 1:
        body = body[0]
    if not isinstance(body, dict):
        return {"error": str(body)}
    detail = body.get("detail")
    if isinstance(detail, list):
        detail = field_problems(detail)
    error = body.get("error")
    if error is None:  # FastAPI's {"detail": "..."}
        error, detail = (detail, None) if status != 422 else ("invalid request", detail)
    elif PYDANTIC_HEADLINE.match(str(error)):
        error = "invalid request"
    out = {"error": str(error)}
    if detail not in (None, ""):
        out["detail"] = str(detail)
    return out


class ErrorBodyMiddleware:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        held: dict | None = None
        chunks: list[bytes] = []

        async def send_normalized(message):
            nonlocal held
            if message["type"] == "http.response.start":
                kind = dict(message.get("headers", [])).get(b"content-type", b"")
                if message["status"] >= 400 and kind.startswith(b"application/json"):
                    held = message  # wait for the body
                    return None
                return await send(message)
            if held is None:
                return await send(message)
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return None
            raw = b"".join(chunks)
            try:
                body = json.dumps(normalize(json.loads(raw), held["status"])).encode()
            except ValueError:
                body = raw
            headers = [(k, v) for k, v in held.get("headers", []) if k != b"content-length"]
            await send({**held, "headers": [*headers, (b"content-length", str(len(body)).encode())]})
            return await send({"type": "http.response.body", "body": body})

        return await self.app(scope, receive, send_normalized)


class _ClientErrors(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is None:
            return True
        code = getattr(getattr(exc, "error_code", None), "value", None)
        client = type(exc).__name__ == "ValidationError" or (code is not None and code < 500)
        return not client


def keep_client_errors_out_of_the_log() -> None:
    logging.getLogger("bentoml._internal.server.http_app").addFilter(_ClientErrors())
