"""What a worker adds to the app when it serves: where logs go, the access log, a frozen heap.

Kept apart from ``create_app`` so tests build apps without touching the
process's logging, and ``asgi.py`` stays one line of wiring.
"""

import gc
import logging
import sys

from quart import Quart

from .access_log import ACCESS_LOGGER, AccessLog, SecondFormatter, escape_controls
from .audit import configure_json_output

APP_LOG_FORMAT = "[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s"


def configure_logging() -> None:
    """The app's records (INFO and up) to stderr beside Hypercorn's; the access log to stdout.

    Once per process: the supervisor configures it, and with ``--workers 0`` it
    imports the app in that same process, which must not log every line twice.
    """
    logger = logging.getLogger("quart_app")
    if any(isinstance(h.formatter, OneLineFormatter) for h in logger.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(OneLineFormatter(APP_LOG_FORMAT, "%Y-%m-%d %H:%M:%S %z"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    access = logging.getLogger(ACCESS_LOGGER)
    access_handler = logging.StreamHandler(sys.stdout)
    access_handler.setFormatter(SecondFormatter())
    access.addHandler(access_handler)
    access.propagate = False


class OneLineFormatter(logging.Formatter):
    """The app's records with control characters in the message escaped: one record, one line.

    Messages quote request paths and names a client chose; a traceback, added
    after the message, keeps its lines.
    """

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        """Escape the message, then format the line as usual."""
        record.message = escape_controls(record.message)
        return super().formatMessage(record)


async def freeze_start_up_objects() -> None:
    """Move everything made at start-up out of the garbage collector's sight.

    Modules, templates, config and pools live as long as the worker; without
    this, every full collection walks all of them again while serving.
    """
    gc.collect()
    gc.freeze()


def for_serving(app: Quart) -> Quart:
    """Wrap the app in the access log, route audit records, freeze the heap after start-up."""
    app.asgi_app = AccessLog(  # type: ignore[method-assign]
        app.asgi_app, logging.getLogger(ACCESS_LOGGER))
    if app.config["AUDIT_LOG_FORMAT"] == "json":
        configure_json_output()
    app.before_serving(freeze_start_up_objects)
    return app
