"""An async login/session service: the Flask session tutorial on Quart and Hypercorn."""

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from quart import Quart

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

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


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
    http_guard.init_app(app)
    redis_client.init_app(app)
    sessions.init_app(app, admit_new=throttle.admit_new_session)
    users.init_app(app)
    throttle.init_app(app)
    csrf.init_app(app)
    app.before_request(identity.load_logged_in_user)
    templating.init_app(app)
    errors.init_app(app)
    app.register_blueprint(auth.bp)
    app.register_blueprint(sessions_page.bp)
    app.register_blueprint(account.bp)
    app.register_blueprint(preferences.bp)
    health.init_app(app)
    cli.init_app(app)
    return app
