"""Identity's verbs announce what happened; anyone may subscribe, as the audit log does."""

from collections.abc import Iterator
from typing import Any

import pytest
from quart import Quart

from quart_app.events import SIGNALS, Event
from quart_app.users import User

from .conftest import AuthActions

type Heard = list[tuple[Event, Any, dict[str, Any]]]


@pytest.fixture
def heard() -> Iterator[Heard]:
    """Every event sent while the test runs: (event, sender, fields)."""
    received: Heard = []
    receivers = {event: (lambda sender, _event=event, **fields:
                         received.append((_event, sender, fields)))
                 for event in Event}
    for event, receiver in receivers.items():
        SIGNALS[event].connect(receiver)
    yield received
    for event, receiver in receivers.items():
        SIGNALS[event].disconnect(receiver)


async def test_a_login_is_announced_by_the_app_with_the_user_and_session(
    app: Quart, auth: AuthActions, user: User, heard: Heard,
) -> None:
    await auth.login()
    [(event, sender, fields)] = heard
    assert event is Event.LOGIN_SUCCEEDED
    assert sender is app
    assert fields["user_id"] == user.id
    assert len(fields["session"]) == 16


@pytest.mark.config(LOGIN_THROTTLE={"account": [1, 900], "address": [100, 900]})
async def test_a_failed_then_a_throttled_login_are_each_announced_once(
    auth: AuthActions, user: User, heard: Heard,
) -> None:
    await auth.login(password="not the password at all")
    await auth.login()
    assert [event for event, _, _ in heard] == [Event.LOGIN_FAILED, Event.LOGIN_THROTTLED]
