"""What a worker adds when it serves: the access log around the app, a frozen heap."""

import gc

from quart import Quart

from quart_app.access_log import AccessLog
from quart_app.serving import for_serving


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
