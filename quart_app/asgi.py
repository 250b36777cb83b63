"""What Hypercorn serves: ``hypercorn --config hypercorn.toml quart_app.asgi:app``."""

import sys

from . import create_app
from .config import ConfigError

try:
    app = create_app()
except ConfigError as error:
    print(f"quart_app: configuration error: {error}", file=sys.stderr)
    raise SystemExit(2) from None
