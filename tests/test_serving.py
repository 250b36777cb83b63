"""What a worker adds when it serves: the access log, one-line app records, a frozen heap."""

import gc
import logging
import sys

from quart import Quart

from quart_app.access_log import AccessLog
from quart_app.serving import APP_LOG_FORMAT, OneLineFormatter, configure_logging, for_serving


async def test_the_served_app_is_wrapped_in_the_access_log(app: Quart) -> None:
    assert isinstance(for_serving(app).asgi_app, AccessLog)


async def test_start_up_objects_are_frozen_out_of_the_garbage_collectors_sight(app: Quart) -> None:
    gc.unfreeze()
    served = for_serving(app)
    await served.startup()
    try:
        assert gc.get_freeze_count() > 0
    finally:
        await served.shutdown()
        gc.unfreeze()


def test_an_app_log_message_cannot_forge_a_line_but_a_traceback_keeps_its_lines() -> None:
    formatter = OneLineFormatter(APP_LOG_FORMAT)
    forged = logging.LogRecord("quart_app.csrf", logging.WARNING, __file__, 1,
                               "refused POST %s: cross-site request", ("/x\n[...] forged",),
                               None)
    assert "\n" not in formatter.format(forged)
    assert "/x\\n[...] forged" in formatter.format(forged)
    try:
        raise ValueError("boom")
    except ValueError:
        failed = logging.LogRecord("quart_app.errors", logging.ERROR, __file__, 1,
                                   "unhandled error", (), sys.exc_info())
    assert formatter.format(failed).count("\n") >= 2


def test_logging_is_configured_once_however_often_it_is_asked() -> None:
    loggers = [logging.getLogger("quart_app"), logging.getLogger("quart_app.access")]
    saved = [(logger.handlers[:], logger.level, logger.propagate) for logger in loggers]
    try:
        for logger in loggers:
            logger.handlers = []
        configure_logging()
        configure_logging()
        assert [len(logger.handlers) for logger in loggers] == [1, 1]
    finally:
        for logger, (handlers, level, propagate) in zip(loggers, saved, strict=True):
            logger.handlers, logger.level, logger.propagate = handlers, level, propagate
