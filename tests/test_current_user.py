"""The current user: decided once per request, and known to every page, error pages included."""

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from quart import Quart

from quart_app.users import User, UserStore

from .conftest import AuthActions, log_in

type Request = Callable[[AuthActions], Awaitable[Any]]


async def missing_page(auth: AuthActions) -> Any:
    return await auth.client.get("/no-such-page")


async def form_without_token(auth: AuthActions) -> Any:
    return await auth.client.post("/preferences", form={"theme": "dark"})


async def unknown_host(auth: AuthActions) -> Any:
    return await auth.client.get("/profile", headers={"Host": "evil.example"})


@pytest.fixture
def user_loads(store: UserStore, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The user ids the per-request check asked the store for, in order."""
    asked: list[int] = []
    load = store.get

    async def counted(user_id: int) -> User | None:
        asked.append(user_id)
        return await load(user_id)

    monkeypatch.setattr(store, "get", counted)
    return asked


@pytest.mark.parametrize(("send", "status"), [
    pytest.param(missing_page, 404, id="after-the-load"),
    pytest.param(form_without_token, 403, id="refused-by-csrf-before-the-load"),
    pytest.param(unknown_host, 400, id="refused-by-the-host-check-before-the-load"),
])
async def test_an_error_page_shows_the_logged_in_user_loaded_once(
    app: Quart, auth: AuthActions, user: User, user_loads: list[int], send: Request,
    status: int,
) -> None:
    await log_in(app, auth.client, user)
    user_loads.clear()
    response = await send(auth)
    assert response.status_code == status
    assert "Logged in as <strong>alice</strong>" in await response.get_data(as_text=True)
    assert user_loads == [user.id]


async def test_a_page_loads_its_user_once(
    app: Quart, auth: AuthActions, user: User, user_loads: list[int],
) -> None:
    await log_in(app, auth.client, user)
    user_loads.clear()
    assert (await auth.client.get("/profile")).status_code == 200
    assert user_loads == [user.id]
