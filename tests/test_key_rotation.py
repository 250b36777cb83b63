"""Rotating ``SECRET_KEY`` on a running service, end to end, as the README's deploy steps do it.

One instance folder (the same users database) is served three times by a
real Hypercorn: on the old key, on the new key with the old one as a
fallback, and on the new key alone.
"""

import json
from pathlib import Path

import pytest

from .conftest import PASSWORD, SECRET_KEY, cookie_attributes
from .live_server import create_user, live_server
from .test_server import Visitor

NEW_KEY = "a-new-key-after-rotation-0123456789abcdef"

pytestmark = pytest.mark.server


def keys(key: str, *fallbacks: str) -> dict[str, str]:
    return {"QUART_SECRET_KEY": key, "QUART_SECRET_KEY_FALLBACKS": json.dumps(list(fallbacks))}


async def test_rotation_keeps_sessions_through_the_fallback_and_retiring_it_ends_the_unseen(
    tmp_path: Path,
) -> None:
    async with live_server(tmp_path, keys(SECRET_KEY), workers=1) as old:
        await create_user(old, "alice", PASSWORD)
        seen, unseen = Visitor(old), Visitor(old)
        for visitor in (seen, unseen):
            response = await visitor.submit("/login", {"username": "alice", "password": PASSWORD})
            assert response.status_code == 303
    unseen_cookie = unseen.cookie

    async with live_server(tmp_path, keys(NEW_KEY, SECRET_KEY), workers=1) as rotating:
        seen.server = rotating
        before = seen.cookie
        response = await seen.request("GET", "/profile")
        assert response.status_code == 200
        assert "alice" in response.text
        [header] = response.headers.get_list("set-cookie")
        assert cookie_attributes(header)["value"] == seen.cookie
        assert seen.cookie != before

    async with live_server(tmp_path, keys(NEW_KEY), workers=1) as retired:
        seen.server = unseen.server = retired
        assert (await seen.request("GET", "/profile")).status_code == 200
        response = await unseen.request("GET", "/profile")
        assert response.status_code == 302
        assert response.headers["Location"] == "/login?next=/profile"
        assert unseen_cookie is not None
        assert unseen.cookie is None  # the response deleted it
