"""Session backends and the rules every backend enforces."""

from typing import Final

from quart import Quart, current_app

from .cookie import SignedCookieSessionInterface
from .policy import SessionPolicy, Verdict

__all__ = ["SessionPolicy", "Verdict", "get_policy", "init_app"]

EXTENSION_KEY: Final = "quart_app.session_policy"


def init_app(app: Quart) -> None:
    """Install the backend named by ``SESSION_BACKEND`` and freeze the limits once."""
    policy = SessionPolicy(
        idle_timeout=app.config["SESSION_IDLE_TIMEOUT"],
        absolute_timeout=app.config["SESSION_ABSOLUTE_TIMEOUT"],
        permanent_lifetime=app.config["PERMANENT_SESSION_LIFETIME"],
    )
    app.session_interface = SignedCookieSessionInterface(policy.signature_max_age())
    app.extensions[EXTENSION_KEY] = policy


def get_policy() -> SessionPolicy:
    """The current app's session limits."""
    policy = current_app.extensions[EXTENSION_KEY]
    assert isinstance(policy, SessionPolicy)
    return policy
