"""A request's path is written once, in the factory, and taken in that order."""

import pytest
from hypercorn.middleware import ProxyFixMiddleware
from quart import Quart
from quart.typing import TestClientProtocol as Client

from quart_app import csrf, identity, security, sessions
from quart_app.http_guard import RequestGuard


def test_the_before_request_steps_run_in_the_documented_order(app: Quart) -> None:
    assert app.before_request_funcs[None] == [
        security.check_host, sessions.raise_open_failure, csrf.protect,
        identity.load_current_user,
    ]


def test_the_after_request_steps_run_in_the_documented_order(app: Quart) -> None:
    # Quart runs after_request hooks last-registered first.
    assert list(reversed(app.after_request_funcs[None])) == [
        csrf.write_cookie, sessions.write_session, security.add_security_headers,
    ]


def test_the_body_guard_is_the_outermost_layer_without_proxies(app: Quart) -> None:
    assert isinstance(app.asgi_app, RequestGuard)
    assert not isinstance(app.asgi_app.app, ProxyFixMiddleware)


@pytest.mark.config(PROXY_FIX_HOPS=1)
def test_the_proxy_fix_sits_inside_the_body_guard(app: Quart) -> None:
    assert isinstance(app.asgi_app, RequestGuard)
    assert isinstance(app.asgi_app.app, ProxyFixMiddleware)


async def test_a_refused_host_still_gets_the_security_headers(client: Client) -> None:
    response = await client.get("/login", headers={"Host": "evil.example"})
    assert response.status_code == 400
    assert response.headers["X-Content-Type-Options"] == "nosniff"
