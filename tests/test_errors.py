"""The last-resort error handler: an unexpected failure is a plain 500 page and a logged trace."""

import logging

import pytest
from quart import Quart

DETAIL = "connection to /srv/secret.db refused: password=hunter2"


@pytest.mark.config(PROPAGATE_EXCEPTIONS=False)  # as served: TESTING would re-raise instead
async def test_an_unexpected_error_is_a_generic_500_page_and_a_logged_traceback(
    app: Quart, caplog: pytest.LogCaptureFixture
) -> None:
    async def failing() -> str:
        raise RuntimeError(DETAIL)

    app.add_url_rule("/failing", "failing", failing)
    with caplog.at_level(logging.ERROR, logger="quart_app"):
        response = await app.test_client().get("/failing")
    body = await response.get_data(as_text=True)
    assert response.status_code == 500
    assert "<h1>Internal Server Error</h1>" in body
    assert [word for word in (DETAIL, "RuntimeError", "Traceback", "failing") if word in body] == []
    [record] = [r for r in caplog.records if r.getMessage() == "unhandled error"]
    assert record.exc_info is not None
    assert record.exc_info[0] is RuntimeError
