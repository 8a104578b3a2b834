"""API keys and roles, through the middleware in front of a tiny app."""

from __future__ import annotations

import base64
import json

import httpx
import pytest

from serving.api.access import (
    AccessConfigError,
    AccessMiddleware,
    Keys,
    KeyStore,
    may_call,
    parse_env_keys,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend():
    return "asyncio"


async def _echo(scope, receive, send):
    body = json.dumps({"path": scope["path"], "key": scope.get("state", {}).get("api_key")}).encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture
def shop(tmp_path):
    store = KeyStore(tmp_path / "keys.json")
    made = {role: store.create(role)[1] for role in ("storefront", "marketer", "admin")}
    keys = Keys(store, "storefront:env-key-of-16-chars-or-more")
    app = AccessMiddleware(_echo, keys)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://shop")
    return client, made, store


@pytest.mark.parametrize(("role", "method", "path", "allowed"), [
    ("storefront", "POST", "/recommend", True),
    ("storefront", "POST", "/events", True),
    ("storefront", "POST", "/items", False),
    ("catalogue", "POST", "/items", True),
    ("catalogue", "POST", "/recommend", False),
    ("catalogue", "POST", "/events", False),
    ("storefront", "POST", "/customer", False),
    ("storefront", "POST", "/segments/query", False),
    ("storefront", "GET", "/report", False),
    ("storefront", "POST", "/admin/reload", False),
    ("marketer", "POST", "/customer", True),
    ("marketer", "GET", "/segments/champions/export", True),
    ("marketer", "GET", "/report", True),
    ("marketer", "POST", "/recommend", False),
    ("marketer", "DELETE", "/customers/13085", False),
    ("marketer", "POST", "/admin/reload", False),
    ("admin", "DELETE", "/customers/13085", True),
    ("admin", "POST", "/admin/reload", True),
    ("admin", "POST", "/recommend", True),
])
def test_each_role_may_call_its_own_endpoints_only(role, method, path, allowed):
    assert may_call(role, method, path) is allowed


async def test_no_key_or_an_unknown_key_is_401_and_a_wrong_role_is_403(shop):
    client, keys, _ = shop
    missing = await client.post("/recommend")
    assert missing.status_code == 401 and "no API key" in missing.json()["error"]
    assert missing.headers["www-authenticate"].startswith("Bearer")
    wrong = await client.post("/recommend", headers={"Authorization": "Bearer sw_not-a-key"})
    assert wrong.status_code == 401 and "unknown API key" in wrong.json()["error"]
    assert "sw_not-a-key" not in wrong.text  # the answer never repeats a key
    denied = await client.post("/customer", headers={"Authorization": f"Bearer {keys['storefront']}"})
    assert denied.status_code == 403 and "'storefront'" in denied.json()["error"]
    assert keys["storefront"] not in denied.text


async def test_bearer_x_api_key_basic_and_environment_keys_are_accepted(shop):
    client, keys, _ = shop
    basic = base64.b64encode(f"anyone:{keys['marketer']}".encode()).decode()
    for headers, name in [({"Authorization": f"Bearer {keys['storefront']}"}, "storefront-1"),
                          ({"X-API-Key": keys["admin"]}, "admin-3"),
                          ({"Authorization": f"Basic {basic}"}, "marketer-2"),
                          ({"Authorization": "Bearer env-key-of-16-chars-or-more"}, "env-storefront-1")]:
        r = await (client.post("/recommend", headers=headers) if "marketer" not in name
                   else client.get("/report", headers=headers))
        assert r.status_code == 200 and r.json()["key"] == name


async def test_basic_credentials_a_browser_keeps_after_the_report_may_not_write(shop):
    client, keys, _ = shop
    basic = {"Authorization": "Basic " + base64.b64encode(f"x:{keys['admin']}".encode()).decode()}
    assert (await client.get("/report", headers=basic)).status_code == 200
    for path in ("/admin/reload", "/items", "/events"):
        r = await client.post(path, headers=basic)
        assert r.status_code == 403 and "may only read" in r.json()["error"]
    assert (await client.delete("/customers/13085", headers=basic)).status_code == 403
    bearer = {"Authorization": f"Bearer {keys['admin']}"}
    assert (await client.post("/admin/reload", headers=bearer)).status_code == 200


async def test_a_browser_is_asked_for_basic_credentials(shop):
    client, _, _ = shop
    r = await client.get("/report", headers={"Accept": "text/html"})
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Basic")


async def test_probes_and_the_openapi_page_need_no_key(shop):
    client, _, _ = shop
    for path in ("/readyz", "/livez", "/docs.json", "/"):
        assert (await client.get(path)).status_code == 200


async def test_metrics_need_a_monitoring_or_admin_key_unless_made_public(shop, tmp_path):
    client, keys, store = shop
    monitoring = store.create("monitoring")[1]
    assert (await client.get("/metrics")).status_code == 401
    for key, status in ((keys["storefront"], 403), (keys["marketer"], 403), (monitoring, 200), (keys["admin"], 200)):
        assert (await client.get("/metrics", headers={"Authorization": f"Bearer {key}"})).status_code == status
    assert (await client.post("/recommend", headers={"Authorization": f"Bearer {monitoring}"})).status_code == 403
    public = AccessMiddleware(_echo, Keys(store), public_metrics=True)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=public), base_url="http://shop") as open_client:
        assert (await open_client.get("/metrics")).status_code == 200
        assert (await open_client.post("/recommend")).status_code == 401


async def test_a_revoked_key_is_refused_at_its_next_request(shop):
    client, keys, store = shop
    headers = {"Authorization": f"Bearer {keys['storefront']}"}
    assert (await client.post("/recommend", headers=headers)).status_code == 200
    store.revoke("storefront-1")
    assert (await client.post("/recommend", headers=headers)).status_code == 401


def test_the_keys_file_keeps_digests_only_and_is_private(tmp_path):
    store = KeyStore(tmp_path / "keys.json")
    record, key = store.create("admin", "ops")
    text = store.path.read_text()
    assert key not in text and record.sha256 in text
    assert store.path.stat().st_mode & 0o077 == 0
    with pytest.raises(AccessConfigError, match="exists already"):
        store.create("admin", "ops")
    with pytest.raises(AccessConfigError, match="unknown role 'owner'"):
        store.create("owner")


@pytest.mark.parametrize("value", ["admin", "root:0123456789abcdef", "admin:short"])
def test_a_malformed_environment_key_says_which_entry(value):
    with pytest.raises(AccessConfigError, match="SHELFWISE_API_KEYS entry 1"):
        parse_env_keys(value)
