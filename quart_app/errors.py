"""Every error as a page in the site's layout, with the status code it names."""

import logging

from quart import Quart, ResponseReturnValue, render_template
from werkzeug.exceptions import HTTPException, InternalServerError

log = logging.getLogger(__name__)


def init_app(app: Quart) -> None:
    """Render HTTP errors, and unexpected exceptions as a 500, with ``error.html``."""

    @app.errorhandler(HTTPException)
    async def http_error(error: HTTPException) -> ResponseReturnValue:
        return await render_template("error.html", error=error), error.code or 500

    @app.errorhandler(InternalServerError)
    async def internal_error(error: InternalServerError) -> ResponseReturnValue:
        log.error("unhandled error", exc_info=error.original_exception)
        return await render_template("error.html", error=error), 500
