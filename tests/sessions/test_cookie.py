"""The signed session cookie as the browser sees it, and what happens to bad cookies."""

import base64
import contextlib
import hashlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import pytest
from itsdangerous import BadSignature, URLSafeTimedSerializer
from quart import Quart
from quart.typing import TestClientProtocol as Client

from quart_app.sessions.cookie import SALT, SignedCookieSessionInterface
from quart_app.users import User

from ..conftest import (
    COOKIE,
    SECRET_KEY,
    AuthActions,
    cookie_attributes,
    jar_cookie,
    log_in,
    replay,
    set_cookie_headers,
    started_app,
)


def decode(app: Quart, cookie: str) -> dict[str, object]:
    """Read a session cookie with the app's own signer."""
    interface = app.session_interface
    assert isinstance(interface, SignedCookieSessionInterface)
    signer = interface.get_signing_serializer(app)
    assert signer is not None
    data = signer.loads(cookie)
    assert isinstance(data, dict)
    return data


def tamper(cookie: str) -> str:
    """Flip every bit of a byte in the middle of the signature (the part after the last '.').

    Changing the last base64 character is not enough: its low bits may be padding
    that decoding drops, and then the signature still verifies.
    """
    payload, _, signature = cookie.rpartition(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    raw[len(raw) // 2] ^= 0xFF
    return f"{payload}.{base64.urlsafe_b64encode(raw).rstrip(b'=').decode()}"


def forge(key: str | bytes, payload: object) -> str:
    """Sign a payload the way the app would, with any key."""
    serializer = URLSafeTimedSerializer(
        key, salt=SALT, signer_kwargs={"key_derivation": "hmac", "digest_method": hashlib.sha256}
    )
    return serializer.dumps(payload)


def verifies_with(cookie: str, digest: object) -> bool:
    """Whether HMAC with this digest, keyed as the README says, accepts a cookie."""
    reader = URLSafeTimedSerializer(SECRET_KEY, salt="quart_app.session", signer_kwargs={
        "key_derivation": "hmac", "digest_method": digest})
    try:
        reader.loads(cookie)
    except BadSignature:
        return False
    return True


async def test_login_cookie_has_the_secure_attributes(auth: AuthActions, user: User) -> None:
    response = await auth.login()
    [header] = set_cookie_headers(response)
    attributes = cookie_attributes(header)
    assert "httponly" in attributes
    assert "secure" in attributes
    assert attributes["samesite"] == "Lax"
    assert attributes["path"] == "/"
    assert "domain" not in attributes


async def test_login_without_remember_sets_a_browser_session_cookie(
    auth: AuthActions, user: User
) -> None:
    [header] = set_cookie_headers(await auth.login())
    attributes = cookie_attributes(header)
    assert "expires" not in attributes
    assert "max-age" not in attributes


async def test_login_with_remember_expires_after_the_lifetime(
    auth: AuthActions, user: User
) -> None:
    [header] = set_cookie_headers(await auth.login(remember=True))
    expires = parsedate_to_datetime(cookie_attributes(header)["expires"])
    expected = datetime.now(UTC) + timedelta(days=7)
    assert abs(expires - expected) < timedelta(minutes=1)


async def test_session_cookie_stays_small(auth: AuthActions, user: User) -> None:
    [header] = set_cookie_headers(await auth.login(remember=True))
    assert len(header) < 4096


async def test_session_holds_ids_not_secrets(app: Quart, auth: AuthActions, user: User) -> None:
    await auth.login()
    data = decode(app, jar_cookie(auth.client) or "")
    assert set(data) == {"_user_id", "_username", "_version", "_started", "_seen", "_csrf"}
    assert data["_user_id"] == user.id


@pytest.mark.parametrize(
    ("digest", "accepted"),
    [pytest.param(hashlib.sha256, True, id="sha256"), pytest.param(hashlib.sha1, False, id="sha1")],
)
async def test_cookie_is_signed_with_hmac_sha256(
    auth: AuthActions, user: User, digest: object, accepted: bool
) -> None:
    await auth.login()
    assert verifies_with(jar_cookie(auth.client) or "", digest) is accepted


async def test_next_request_is_recognised(auth: AuthActions, user: User) -> None:
    await auth.login()
    assert (await auth.client.get("/profile")).status_code == 200


async def test_other_client_without_the_cookie_is_anonymous(
    app: Quart, auth: AuthActions, user: User
) -> None:
    await auth.login()
    assert (await app.test_client().get("/profile")).status_code == 302


async def test_logout_leaves_a_cookie_holding_only_the_flashed_message(
    app: Quart, auth: AuthActions, user: User
) -> None:
    await auth.login(remember=True)
    [header] = set_cookie_headers(await auth.logout())
    attributes = cookie_attributes(header)
    assert set(decode(app, attributes["value"])) == {"_flashes", "_started", "_seen"}
    assert "expires" not in attributes  # no longer a remembered session


async def test_the_page_after_logout_deletes_the_cookie(auth: AuthActions, user: User) -> None:
    await auth.login(remember=True)
    await auth.logout()
    [header] = set_cookie_headers(await auth.client.get("/logout"))
    attributes = cookie_attributes(header)
    assert attributes["value"] == ""
    assert attributes["max-age"] == "0"
    assert parsedate_to_datetime(attributes["expires"]) < datetime.now(UTC)


async def test_login_keeps_the_visitors_data_under_a_new_login_token(
    app: Quart, auth: AuthActions, user: User
) -> None:
    async with auth.client.session_transaction() as session:
        session["cart"] = [1, 2]
    before = jar_cookie(auth.client)
    await auth.login()
    after = jar_cookie(auth.client)
    assert after is not None
    assert after != before
    data = decode(app, after)
    assert data["cart"] == [1, 2]
    assert data["_user_id"] == user.id


async def test_a_planted_login_token_without_a_login_is_refused(
    app: Quart, auth: AuthActions, user: User
) -> None:
    async with auth.client.session_transaction() as session:
        session["_csrf"] = "known-token"
    response = await auth.client.post("/login", form={
        "username": "alice", "password": "correct horse battery", "csrf_token": "known-token"})
    assert response.status_code == 403
    assert (await auth.client.get("/profile")).status_code == 302


async def test_unmodified_requests_do_not_resend_the_cookie(
    auth: AuthActions, user: User
) -> None:
    await auth.login()
    assert set_cookie_headers(await auth.client.get("/profile")) == []


@pytest.mark.parametrize(
    "cookie",
    [
        pytest.param(tamper, id="tampered"),
        pytest.param(lambda good: good[: len(good) // 2], id="truncated"),
        pytest.param(lambda good: "garbage", id="garbage"),
        pytest.param(lambda good: "", id="empty"),
        pytest.param(lambda good: "a.b.c.d.e", id="dotted"),
        pytest.param(lambda good: "é" * 100, id="non-ascii"),
        pytest.param(lambda good: "x" * 4000, id="oversized"),
        pytest.param(lambda good: forge("another-key-that-is-long-enough-000000",
                                        json.loads('{"_user_id": 1, "_version": 1}')),
                     id="foreign-key"),
        pytest.param(lambda good: forge(SECRET_KEY, [1, 2, 3]), id="not-a-mapping"),
        pytest.param(lambda good: forge(SECRET_KEY, {"_user_id": "1; drop", "_version": None}),
                     id="malformed-fields"),
        pytest.param(lambda good: forge(SECRET_KEY, {}), id="signed-empty"),
        pytest.param(lambda good: forge(SECRET_KEY, {"_version": 1, "_csrf": "known"}),
                     id="signed-without-a-login"),
    ],
)
async def test_bad_cookie_is_an_anonymous_visitor_and_is_deleted(
    app: Quart, auth: AuthActions, user: User, cookie: object
) -> None:
    await auth.login()
    good = jar_cookie(auth.client) or ""
    bad = cookie(good)  # type: ignore[operator]
    assert bad != good
    response = await replay(app, bad).get("/profile")
    assert response.status_code == 302
    [header] = set_cookie_headers(response)
    assert cookie_attributes(header)["max-age"] == "0"


async def test_anonymous_bad_cookie_still_gets_the_login_page(app: Quart) -> None:
    response = await replay(app, "garbage").get("/login")
    assert response.status_code == 200


@pytest.mark.config(SESSION_COOKIE_NAME="sid", SESSION_COOKIE_SAMESITE="Strict",
                    SESSION_COOKIE_SECURE=False)
async def test_cookie_is_configurable_with_quart_keys(auth: AuthActions, user: User) -> None:
    [header] = set_cookie_headers(await auth.login(), name="sid")
    attributes = cookie_attributes(header)
    assert attributes["samesite"] == "Strict"
    assert "secure" not in attributes


async def test_cookie_name_is_the_host_prefixed_default(auth: AuthActions, user: User) -> None:
    response = await auth.login()
    assert set_cookie_headers(response, COOKIE)


NEW_KEY = "the-new-key-for-this-service-0123456789"


@contextlib.asynccontextmanager
async def app_with_keys(config: dict[str, object], key: str,
                        fallbacks: list[str]) -> AsyncIterator[Quart]:
    """The same service restarted with another key and these fallbacks."""
    async with started_app({**config, "SECRET_KEY": key,
                            "SECRET_KEY_FALLBACKS": fallbacks}) as rotated:
        yield rotated


async def test_a_cookie_signed_by_a_fallback_key_still_logs_in(
    config: dict[str, object], auth: AuthActions, user: User
) -> None:
    await auth.login()
    async with app_with_keys(config, NEW_KEY, [SECRET_KEY]) as rotated:
        assert (await replay(rotated, jar_cookie(auth.client)).get("/profile")).status_code == 200


async def test_a_cookie_signed_by_a_fallback_key_is_re_signed_with_the_current_key(
    config: dict[str, object], app: Quart, auth: AuthActions, user: User
) -> None:
    await auth.login()
    old_cookie = jar_cookie(auth.client)
    async with app_with_keys(config, NEW_KEY, [SECRET_KEY]) as rotated:
        [header] = set_cookie_headers(await replay(rotated, old_cookie).get("/profile"))
        new_cookie = cookie_attributes(header)["value"]
        assert decode(rotated, new_cookie)["_user_id"] == user.id
    with pytest.raises(BadSignature):
        decode(app, new_cookie)  # the old key alone no longer reads it
    async with app_with_keys(config, NEW_KEY, []) as retired:
        assert (await replay(retired, new_cookie).get("/profile")).status_code == 200


async def test_a_cookie_on_the_current_key_is_not_re_signed(
    config: dict[str, object], auth: AuthActions, user: User
) -> None:
    async with app_with_keys(config, NEW_KEY, [SECRET_KEY]) as rotated:
        client = rotated.test_client()
        await log_in(rotated, client, user)
        response = await client.get("/profile")
    assert response.status_code == 200
    assert set_cookie_headers(response) == []


async def test_a_retired_key_no_longer_reads_old_cookies_and_they_are_deleted(
    config: dict[str, object], auth: AuthActions, user: User
) -> None:
    await auth.login()
    async with app_with_keys(config, NEW_KEY, []) as retired:
        response = await replay(retired, jar_cookie(auth.client)).get("/profile")
    assert response.status_code == 302
    [header] = set_cookie_headers(response)
    assert cookie_attributes(header)["value"] == ""


async def test_anonymous_visit_to_profile_sets_no_cookie(client: Client) -> None:
    assert set_cookie_headers(await client.get("/profile")) == []
