"""What Hypercorn serves: ``hypercorn --config hypercorn.toml quart_app.asgi:app``.

Serving is the one place that decides where logs go: the app's own records
(logins, logouts, refusals, outages) join Hypercorn's on stderr, in its format.
"""

import logging
import sys

from . import create_app
from .config import ConfigError


def configure_logging() -> None:
    """Send ``quart_app`` records at INFO and above to stderr, like Hypercorn's own."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(
        "[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s",
        "%Y-%m-%d %H:%M:%S %z",
    ))
    logger = logging.getLogger("quart_app")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)


configure_logging()
try:
    app = create_app()
except ConfigError as error:
    print(f"quart_app: configuration error: {error}", file=sys.stderr)
    raise SystemExit(2) from None
