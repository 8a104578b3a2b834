"""Who may call what: API keys with roles, checked before any request reaches the service.

Five roles:

- ``storefront``: the recommendation endpoints and ``/events`` (what a shop's pages call on
  every view, from the shop's own servers: the key answers for any shopper, so it never
  goes to a browser or an app);
- ``catalogue``: ``POST /items`` (stock, prices, new items: the shop's back office or feed);
- ``marketer``: customer scores, segments and their exports, offers, the report;
- ``admin``: everything, plus ``/admin/*`` (reload) and ``DELETE /customers/{id}``;
- ``monitoring``: ``GET /metrics`` only, for a Prometheus scraper (its bearer token).

Keys come from the environment (``SHELFWISE_API_KEYS="role:key,role:key"``, for secrets
managers) or from the workspace's ``keys.json``, which ``shelfwise keys create`` writes and
which holds only each key's SHA-256, never the key. A request carries its key as
``Authorization: Bearer KEY``, ``X-API-Key: KEY`` or HTTP Basic auth with the key as the
password (what a browser sends for the report after asking; such a login may only read,
never write). No key or an unknown one gets
401, a key whose role may not call the path gets 403; neither message repeats the key, and
nothing here logs one.

Probes (``/livez``, ``/readyz``, ``/healthz``) and the OpenAPI page and its document stay
open: orchestrators call them without credentials, and they carry no customer data.
``/metrics`` needs a monitoring or admin key unless ``SHELFWISE_METRICS_PUBLIC=true`` (a
scraper on a private network); it is labelled by route template, never by a raw path
(:mod:`serving.api.http_metrics`).

``python -m serving.api.access create --role ROLE [--name NAME] | list | revoke NAME`` manages
the keys file (``shelfwise keys ...``).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import secrets
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROLES = ("storefront", "catalogue", "marketer", "admin", "monitoring")
KEYS_ENV = "SHELFWISE_API_KEYS"
# What each role may call, by method and path prefix. Admin may call everything.
GRANTS: dict[str, tuple[tuple[str, str], ...]] = {
    "storefront": (("POST", "/recommend"), ("POST", "/similar_items"),
                   ("POST", "/frequently_bought_together"), ("POST", "/buy_again"),
                   ("POST", "/trending"), ("POST", "/events"), ("POST", "/ping"), ("GET", "/v1/status")),
    "catalogue": (("POST", "/items"), ("GET", "/v1/status")),
    "marketer": (("POST", "/customer"), ("POST", "/segments/"), ("GET", "/segments/"),
                 ("POST", "/offers"), ("GET", "/report"), ("GET", "/v1/status")),
    "monitoring": (("GET", "/metrics"),),
}
OPEN_PATHS = frozenset({"/livez", "/readyz", "/healthz", "/", "/docs.json"})
METRICS_PATH = "/metrics"
READ_METHODS = frozenset({"GET", "HEAD"})
OPEN_PREFIXES = ("/static_content/",)


class AccessConfigError(ValueError):
    """A keys file or ``SHELFWISE_API_KEYS`` value that cannot be used, and why."""


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def may_call(role: str, method: str, path: str) -> bool:
    """Whether a key of ``role`` may send ``method`` to ``path``."""
    if role == "admin":
        return True
    return any(method == m and (path == p or (p.endswith("/") and path.startswith(p)))
               for m, p in GRANTS.get(role, ()))


def is_open(path: str) -> bool:
    return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)


@dataclass(frozen=True)
class KeyRecord:
    name: str
    role: str
    sha256: str
    created: str


class KeyStore:
    """The workspace's ``keys.json``: names, roles and SHA-256 digests of API keys."""

    def __init__(self, path: Path):
        self.path = path

    def records(self) -> list[KeyRecord]:
        if not self.path.exists():
            return []
        try:
            return [KeyRecord(**r) for r in json.loads(self.path.read_text())["keys"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise AccessConfigError(f"{self.path} is not a shelfwise keys file ({exc}); "
                                    "recreate it with `shelfwise keys create`") from None

    def _write(self, records: list[KeyRecord]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.unlink(missing_ok=True)
        # Readable by the owner only, from the first byte.
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
            json.dump({"keys": [r.__dict__ for r in records]}, f, indent=2)
        tmp.replace(self.path)

    def create(self, role: str, name: str | None = None) -> tuple[KeyRecord, str]:
        """A new random key of ``role``; returns its record and the key (shown once)."""
        if role not in ROLES:
            raise AccessConfigError(f"unknown role {role!r}; roles are {', '.join(ROLES)}")
        records = self.records()
        name = name or f"{role}-{len(records) + 1}"
        if any(r.name == name for r in records):
            raise AccessConfigError(f"a key named {name!r} exists already; revoke it or pick another name")
        key = f"sw_{secrets.token_urlsafe(24)}"
        record = KeyRecord(name, role, _digest(key), datetime.now(UTC).isoformat(timespec="seconds"))
        self._write([*records, record])
        return record, key

    def revoke(self, name: str) -> None:
        records = self.records()
        if not any(r.name == name for r in records):
            raise AccessConfigError(f"no key named {name!r} in {self.path}")
        self._write([r for r in records if r.name != name])


def parse_env_keys(value: str) -> list[KeyRecord]:
    """``role:key,role:key`` (from ``SHELFWISE_API_KEYS``) as records named ``env-ROLE-N``."""
    out = []
    for n, part in enumerate(p.strip() for p in value.split(",") if p.strip()):
        role, sep, key = part.partition(":")
        if not sep or role not in ROLES or len(key) < 16:
            raise AccessConfigError(f"{KEYS_ENV} entry {n + 1} is not ROLE:KEY with a role in {ROLES} "
                                    "and a key of at least 16 characters")
        out.append(KeyRecord(f"env-{role}-{n + 1}", role, _digest(key), ""))
    return out


class Keys:
    """Every accepted key, by digest; re-reads ``keys.json`` when it changes, so a key created
    or revoked while the service runs takes effect at its next request."""

    def __init__(self, store: KeyStore, env_value: str | None = None):
        self.store, self._env = store, parse_env_keys(env_value or "")
        self._stamp: float | None = None
        self._by_digest: dict[str, KeyRecord] = {}
        self.refresh()

    def refresh(self) -> None:
        try:
            stamp = self.store.path.stat().st_mtime_ns
        except FileNotFoundError:
            stamp = None
        if stamp != self._stamp or not self._by_digest:
            self._by_digest = {r.sha256: r for r in [*self._env, *self.store.records()]}
            self._stamp = stamp

    def __len__(self) -> int:
        return len(self._by_digest)

    def lookup(self, key: str) -> KeyRecord | None:
        self.refresh()
        # By digest: a lookup's timing tells nothing about the keys themselves.
        return self._by_digest.get(_digest(key))


def presented_key(headers: dict[bytes, bytes]) -> tuple[str | None, str]:
    """The key in a request's headers and how it came: ``x-api-key``, ``bearer`` or
    ``basic`` (the password of HTTP Basic auth)."""
    if key := headers.get(b"x-api-key"):
        return key.decode("latin-1").strip(), "x-api-key"
    scheme, _, value = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() or None, "bearer"
    if scheme.lower() == "basic":
        try:
            return base64.b64decode(value.strip(), validate=True).decode().partition(":")[2] or None, "basic"
        except ValueError:
            return None, "basic"
    return None, ""


class AccessMiddleware:
    """ASGI middleware: 401 without a known key, 403 when its role may not call the path.

    The caller's key name and role go into ``scope["state"]`` (``api_key``, ``api_role``), for
    audit records and for answers that show more to admins.
    """

    def __init__(self, app, keys: Keys, public_metrics: bool = False):
        self.app, self.keys, self.public_metrics = app, keys, public_metrics

    async def __call__(self, scope, receive, send):
        if (scope["type"] != "http" or is_open(scope["path"])
                or (self.public_metrics and scope["path"] == METRICS_PATH)):
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        key, scheme = presented_key(headers)
        record = self.keys.lookup(key) if key else None
        if record is None:
            browser = b"text/html" in headers.get(b"accept", b"")
            challenge = 'Basic realm="shelfwise"' if browser else 'Bearer realm="shelfwise"'
            why = "no API key" if key is None else "unknown API key"
            return await reply(send, 401, f"{why}: send `Authorization: Bearer KEY` (or X-API-Key: KEY); "
                                "`shelfwise keys create --role ROLE` makes one",
                                [(b"www-authenticate", challenge.encode())])
        if scheme == "basic" and scope["method"] not in READ_METHODS:
            # A browser resends Basic credentials it was given for /report to this site on
            # its own, whichever page asks it to: they may read, never write.
            return await reply(send, 403, "HTTP Basic credentials (what a browser keeps after /report) "
                               f"may only read; send {scope['method']} with `Authorization: Bearer KEY`")
        if not may_call(record.role, scope["method"], scope["path"]):
            return await reply(send, 403, f"the key {record.name!r} has role {record.role!r}, which may not "
                                f"call {scope['method']} {scope['path']}; see docs/operations.md, 'Access'")
        state = scope.setdefault("state", {})
        state["api_key"], state["api_role"] = record.name, record.role
        return await self.app(scope, receive, send)


async def reply(send, status: int, message: str, headers: list | None = None) -> None:
    body = json.dumps({"error": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()), *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


def keys_path(home: Path) -> Path:
    return Path(home) / "keys.json"


def load_keys(home: Path) -> Keys:
    return Keys(KeyStore(keys_path(home)), os.environ.get(KEYS_ENV))


def main(argv: list[str] | None = None) -> int:
    from features.workspace import Settings, Workspace

    p = argparse.ArgumentParser(prog="shelfwise keys", description="API keys of the service")
    sub = p.add_subparsers(dest="action", required=True)
    create = sub.add_parser("create", help="make a key; it is printed once and stored only as a digest")
    create.add_argument("--role", required=True, choices=ROLES)
    create.add_argument("--name", help="default: ROLE-N")
    sub.add_parser("list", help="names, roles and creation times (never the keys)")
    revoke = sub.add_parser("revoke", help="remove a key; the service refuses it at its next request")
    revoke.add_argument("name")
    sub.add_parser("demo", help="replace the demo-ROLE keys with new ones and print them as shell exports")
    args = p.parse_args(argv)
    store = KeyStore(keys_path(Workspace.from_settings(Settings()).home))
    try:
        if args.action == "create":
            record, key = store.create(args.role, args.name)
            print(f"{record.name} ({record.role}): {key}")
            print("Store it now: shelfwise keeps only its SHA-256.", file=sys.stderr)
        elif args.action == "demo":
            for role in ROLES:
                name = f"demo-{role}"
                if any(r.name == name for r in store.records()):
                    store.revoke(name)
                print(f"export SHELFWISE_{role.upper()}_KEY={store.create(role, name)[1]}")
        elif args.action == "list":
            for r in store.records():
                print(f"{r.name}\t{r.role}\t{r.created}")
        else:
            store.revoke(args.name)
            print(f"revoked {args.name}")
    except AccessConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
