"""What Hypercorn serves: ``hypercorn --config hypercorn.toml quart_app.asgi:app``.

The app's own records (logins, logouts, refusals, outages) go to stderr beside
Hypercorn's, the access log to stdout (``serving.py``); a bad setting stops the
worker with one line.
"""

import sys

from . import create_app
from .config import ConfigError
from .serving import configure_logging, for_serving

configure_logging()
try:
    app = for_serving(create_app())
except ConfigError as error:
    print(f"quart_app: configuration error: {error}", file=sys.stderr)
    raise SystemExit(2) from None
