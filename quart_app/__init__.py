"""An async login/session service: the Flask session tutorial on Quart and Hypercorn."""

import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from quart import Quart
from quart.typing import ResponseTypes

from . import (
    account,
    audit,
    auth,
    cli,
    csrf,
    errors,
    health,
    http_guard,
    identity,
    preferences,
    redis_client,
    security,
    sessions,
    sessions_page,
    templating,
    throttle,
    users,
)
from .config import load_config
from .security import ASGIApp

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"

# A request's path, written once (Starlette's ``middleware=[...]``), in the order it is taken.
# ASGI layers, outermost first (``serving.for_serving`` adds the access log around them):
ASGI_LAYERS: Final[Sequence[Callable[[Quart, ASGIApp], ASGIApp]]] = (
    http_guard.guard_requests,   # CL+TE → 400; a body over MAX_CONTENT_LENGTH → 413, streaming
    security.trust_proxies,      # X-Forwarded-* only with PROXY_FIX_HOPS > 0
)
# Then Quart opens the session (the backend reads it and applies the lifetimes), and:
BEFORE_REQUEST: Final[Sequence[Callable[[], Awaitable[None]]]] = (
    security.check_host,              # unknown Host → 400
    sessions.raise_open_failure,      # the store failed at open → 503
    csrf.protect,                     # unsafe methods: fetch metadata, then the token
    identity.load_current_user,       # the user and the session version (memoised)
)
# The view runs; then, in this order:
AFTER_REQUEST: Final[Sequence[Callable[[ResponseTypes], Awaitable[ResponseTypes]]]] = (
    csrf.write_cookie,                # the anonymous forms' token cookie
    sessions.write_session,           # the session written now; a failure becomes its page
    security.add_security_headers,    # on every answer, that page included
)


def install_request_path(app: Quart) -> None:
    """Install the layers and hooks above, so their order is this file's, not the imports'."""
    for layer in reversed(ASGI_LAYERS):
        app.asgi_app = layer(app, app.asgi_app)  # type: ignore[method-assign]
    for hook in BEFORE_REQUEST:
        app.before_request(hook)
    for after in reversed(AFTER_REQUEST):  # Quart runs the last registered first
        app.after_request(after)


def create_app(config: Mapping[str, Any] | None = None) -> Quart:
    """Build a configured app; ``QUART_INSTANCE_PATH`` moves the instance folder."""
    app = Quart(
        __name__,
        instance_path=os.environ.get("QUART_INSTANCE_PATH") or None,
        instance_relative_config=True,
        template_folder=str(TEMPLATES),
    )
    app.jinja_environment = templating.PageEnvironment
    load_config(app, config)
    audit.init_app(app)
    security.init_app(app)
    redis_client.init_app(app)
    sessions.init_app(app, admit_new=throttle.admit_new_session)
    users.init_app(app)
    throttle.init_app(app)
    csrf.init_app(app)
    install_request_path(app)
    templating.init_app(app)
    errors.init_app(app)
    app.register_blueprint(auth.bp)
    app.register_blueprint(sessions_page.bp)
    app.register_blueprint(account.bp)
    app.register_blueprint(preferences.bp)
    health.init_app(app)
    cli.init_app(app)
    return app
