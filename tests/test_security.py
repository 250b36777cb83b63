"""Host check, security headers and the local-redirect rule."""

from typing import Any

import pytest
from quart.typing import TestClientProtocol as Client

from quart_app.security import TrustedHosts, safe_next

# README, "Headers on every response", word for word.
README_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
                               "object-src 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
# Every error page the app serves today: (method, path, request arguments, status).
ERROR_PAGES = [
    pytest.param("GET", "/nope", {}, 404, id="404-not-found"),
    pytest.param("POST", "/login", {"form": {"csrf_token": "forged"}}, 403, id="403-csrf"),
    pytest.param("POST", "/profile", {"form": {"csrf_token": "x"}}, 405, id="405-method"),
    pytest.param("GET", "/login", {"headers": {"Host": "evil.example"}}, 400, id="400-host"),
    pytest.param("POST", "/login", {"form": {"username": "a" * 70_000}}, 413, id="413-size"),
    pytest.param("POST", "/login", {"data": b"a=b", "headers": {"Content-Type": "text/plain"}},
                 415, id="415-not-a-form"),
]


@pytest.mark.parametrize("host", ["localhost", "localhost:8000", "127.0.0.1:8000", "[::1]:8000"])
async def test_trusted_hosts_are_served(client: Client, host: str) -> None:
    response = await client.get("/login", headers={"Host": host})
    assert response.status_code == 200


@pytest.mark.parametrize(
    "host", ["evil.example", "localhost.evil.example", "localhost:99999", "local host", "", "a@b"]
)
async def test_unknown_hosts_get_400(client: Client, host: str) -> None:
    response = await client.get("/login", headers={"Host": host})
    assert response.status_code == 400
    assert "not served here" in await response.get_data(as_text=True)


async def test_health_check_answers_any_host(client: Client) -> None:
    response = await client.get("/healthz", headers={"Host": "10.0.0.7:8000"})
    assert response.status_code == 200


@pytest.mark.config(TRUSTED_HOSTS=[".example.com"])
async def test_dot_prefixed_host_allows_subdomains(client: Client) -> None:
    assert (await client.get("/login", headers={"Host": "id.example.com"})).status_code == 200
    assert (await client.get("/login", headers={"Host": "badexample.com"})).status_code == 400


@pytest.mark.parametrize(
    ("method", "path", "arguments", "status"),
    [pytest.param("GET", "/login", {}, 200, id="200-page"),
     pytest.param("GET", "/profile", {}, 302, id="302-redirect"),
     pytest.param("GET", "/static/style.css", {}, 200, id="200-static"),
     *ERROR_PAGES],
)
async def test_every_response_has_the_security_headers_the_readme_lists(
    client: Client, method: str, path: str, arguments: dict[str, Any], status: int
) -> None:
    response = await client.open(path, method=method, **arguments)
    assert response.status_code == status
    assert {name: response.headers.get(name) for name in README_HEADERS} == README_HEADERS
    assert response.headers["Permissions-Policy"] == "camera=(), microphone=(), geolocation=()"


@pytest.mark.parametrize(("method", "path", "arguments", "status"), ERROR_PAGES)
async def test_error_pages_are_not_stored_by_caches(
    client: Client, method: str, path: str, arguments: dict[str, Any], status: int
) -> None:
    response = await client.open(path, method=method, **arguments)
    assert response.status_code == status
    assert response.headers.get("Cache-Control") == "no-store"


async def test_hsts_only_over_https(client: Client) -> None:
    plain = await client.get("/login")
    secure = await client.get("/login", scheme="https")
    assert "Strict-Transport-Security" not in plain.headers
    assert secure.headers["Strict-Transport-Security"].startswith("max-age=")


async def test_pages_are_not_cached_but_static_files_may_be(client: Client) -> None:
    assert (await client.get("/login")).headers["Cache-Control"] == "no-store"
    assert (await client.get("/static/style.css")).headers.get("Cache-Control") != "no-store"


async def test_unknown_page_is_a_404_in_the_layout(client: Client) -> None:
    response = await client.get("/nope")
    assert response.status_code == 404
    assert "<h1>Page not found</h1>" in await response.get_data(as_text=True)


@pytest.mark.config(PROXY_FIX_HOPS=1)
async def test_proxy_fix_trusts_the_forwarded_scheme(client: Client) -> None:
    response = await client.get("/login", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" in response.headers


async def test_forwarded_headers_are_ignored_without_proxy_fix(client: Client) -> None:
    response = await client.get("/login", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in response.headers


@pytest.mark.parametrize("target", ["/", "/profile", "/profile?x=1&y=2", "/a/b#frag", "/%2F%2Fx"])
def test_local_paths_are_safe(target: str) -> None:
    assert safe_next(target) == target


@pytest.mark.parametrize(
    "target",
    [None, 5, "", "profile", "//evil.example", "///evil.example", "/\\evil.example",
     "\\/evil.example", "https://evil.example", "http:/evil", "/\x00", "/\r\nSet-Cookie: x=1",
     "/\t/evil", "javascript:alert(1)", "/" + "x" * 2048],
)
def test_everything_else_is_not(target: object) -> None:
    assert safe_next(target) is None


def test_trusted_hosts_ignore_case_and_port() -> None:
    hosts = TrustedHosts(["login.example.com", "::1"])
    assert hosts.allows("LOGIN.example.com:443")
    assert hosts.allows("[::1]")
    assert not hosts.allows("login.example.com.evil")


async def test_oversized_body_is_413(client: Client) -> None:
    response = await client.post("/login", form={"username": "a" * 70_000, "password": "x"})
    assert response.status_code == 413
