"""Hostile input as Hypothesis strategies, and how a fuzzed request is sent and judged.

The strategies stay within what can reach the app through Hypercorn, so a
failure is a bug and not an artefact of the test client: header values hold
no control characters other than tab and no surrounding whitespace (h11
refuses or strips them), while paths and form fields may hold anything,
because percent-encoding carries NUL and every other character through.
"""

import json
import re
import string
import time
from dataclasses import dataclass, field
from urllib.parse import unquote, urlencode

from hypothesis import strategies as st
from itsdangerous import URLSafeTimedSerializer
from itsdangerous.encoding import base64_encode
from markupsafe import Markup
from quart.testing import QuartClient
from quart.typing import TestClientProtocol as Client
from werkzeug.datastructures import Headers
from werkzeug.sansio.multipart import Data, Epilogue, Field, MultipartEncoder, Preamble

from quart_app.sessions.policy import (
    CSRF_TOKEN,
    LAST_SEEN,
    PERMANENT,
    STARTED,
    USER_ID,
    USERNAME,
    VERSION,
)
from quart_app.users import User

from ..conftest import COOKIE, PASSWORD

FORM_ROUTES = ["/login", "/register", "/logout", "/account/password", "/account/delete",
               "/sessions/revoke-others"]
PAGES = ["/", "/login", "/register", "/profile", "/logout", "/sessions", "/account/password",
         "/healthz", "/static/style.css"]
FIELD_NAMES = ["username", "password", "confirm", "current", "remember", "next", "csrf_token"]
METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT"]
# RFC 9110 token characters: what a request line's method may be made of.
TCHAR = string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~"
BASE64URL = string.ascii_letters + string.digits + "-_"
FORM_TYPE = "application/x-www-form-urlencoded"
# Login limits generous enough that most examples get past the throttle to the password check.
ROOMY_THROTTLE = {"account": [1_000, 900], "address": [100_000, 900],
                  "registration": [100_000, 900]}
# A password the registration policy accepts, so account changes can succeed too.
NEW_PASSWORD = "a brand new passphrase"
_SHOWN_USER = re.compile(r"Logged in as <strong>([^<]*)</strong>")

# True about one time in five. (Hypothesis leans towards small integers, so a test such as
# ``integers(0, 4) == 0`` comes out true far more often than it reads.)
rarely = st.sampled_from([False, False, False, False, True])

# Any text a form field or a path can carry once decoded: NUL, controls, every plane.
# Hypothesis favours ASCII when drawing characters; half of these are from beyond it.
anything = st.characters(max_codepoint=0x7F) | st.characters(min_codepoint=0x80,
                                                             exclude_categories=["Cs"])
text = st.text(anything, max_size=40)
# A few kilobytes of one character: big, yet with the other fields under MAX_CONTENT_LENGTH
# (64 KiB) even when every character takes 12 bytes percent-encoded.
huge = st.builds(lambda char, count: char * count, anything, st.integers(1_000, 4_000))

# What h11 hands the app as a header value: no ASCII control character but tab, nothing
# around it to strip; any other character goes as UTF-8, bytes h11 passes as they are.
ASCII_CONTROLS = "".join(map(chr, range(0x20))).replace("\t", "") + "\x7f"
header_text = st.text(st.characters(exclude_categories=["Cs"], exclude_characters=ASCII_CONTROLS),
                      max_size=60).map(lambda value: value.strip(" \t"))


def shown_user(body: str) -> str | None:
    """The name a page's header says is logged in, or None for an anonymous page."""
    match = _SHOWN_USER.search(body)
    return match.group(1) if match else None


@dataclass
class Request:
    """One request as sent: everything a client controls."""

    method: str = "GET"
    path: str = "/"
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def __repr__(self) -> str:
        """Short enough to read in a falsifying example (bodies can be kilobytes)."""
        body = self.body if len(self.body) <= 200 else self.body[:200] + b"..."
        return f"Request({self.method!r}, {self.path!r}, headers={self.headers!r}, body={body!r})"


@dataclass(frozen=True)
class Answer:
    """What came back: enough for ``conftest.set_cookie_headers`` and ``shown_user``."""

    status_code: int
    headers: Headers
    body: str


async def send(client: Client, request: Request) -> Answer:
    """Send one request as it is, and read the whole answer."""
    # Quart 0.23's TestClientProtocol.open lacks the default QuartClient.open gives ``json``.
    response = await client.open(  # type: ignore[call-arg]
        request.path, method=request.method, headers=Headers(request.headers), data=request.body)
    return Answer(response.status_code, response.headers, await response.get_data(as_text=True))


def jar_header(client: Client) -> str:
    """The ``Cookie`` header the client's cookie jar would send now."""
    assert isinstance(client, QuartClient)
    assert client.cookie_jar is not None
    return "; ".join(f"{cookie.name}={cookie.value}" for cookie in client.cookie_jar)


def assert_answered(answer: Answer, request: Request) -> None:
    """The property every request shares: an answer, never a server error.

    A 503 counts as a failure too: with the database and Redis up, nothing a
    client sends may make the app say it is unavailable.
    """
    assert answer.status_code < 500, f"{answer.status_code} for {request!r}"


# --- request lines ---------------------------------------------------------------------------

methods = st.one_of(st.sampled_from(METHODS), st.sampled_from(METHODS).map(str.lower),
                    st.text(TCHAR, min_size=1, max_size=12))

segments = st.one_of(
    st.sampled_from(["..", ".", "", "%00", "%2e%2e", "%2F", "%5C", "%", "%zz", "%FF", "%C0%AF",
                     "static", "sessions", "revoke", "login", "~", ";", "\\", "//"]),
    text,
)


def _as_path(parts: list[str]) -> str:
    # A literal '?' would start the query string in the test client; encode it like a browser.
    return "/" + "/".join(parts).replace("?", "%3F")


def _sendable(path: str) -> bool:
    """The test client reads a path that starts with ``//`` as a host name: not sent here."""
    return not unquote(path).startswith("//")


paths = st.one_of(
    st.sampled_from(PAGES),
    st.lists(segments, max_size=8).map(_as_path),
    st.tuples(st.sampled_from(PAGES), st.lists(segments, min_size=1, max_size=3))
    .map(lambda page: _as_path([page[0].lstrip("/"), *page[1]])),
    st.builds(lambda char, count: "/" + char * count, anything.filter(lambda c: c != "?"),
              st.integers(1_000, 10_000)),
).filter(_sendable)
queries = st.one_of(
    st.just(""),
    st.lists(st.tuples(text, text), max_size=4).map(lambda pairs: "?" + urlencode(pairs)),
    st.text(string.printable.strip().replace("#", ""), max_size=40).map(lambda q: "?" + q),
    st.tuples(st.just("next"), text | st.sampled_from(["//evil.example", "/\\evil", "/%0a"]))
    .map(lambda pair: "?" + urlencode([pair])),
)
targets = st.builds(lambda path, query: path + query, paths, queries)


# --- form bodies -----------------------------------------------------------------------------

field_names = st.one_of(st.sampled_from(FIELD_NAMES), text)
values = st.one_of(
    st.sampled_from([PASSWORD, NEW_PASSWORD, "on", "", "\x00", "/profile", "//evil.example"]),
    text, huge)
random_fields = st.lists(st.tuples(field_names, values), max_size=6)


def right_fields(path: str, username: str) -> list[tuple[str, str]]:
    """The fields with which a form at ``path`` succeeds for ``username`` (password PASSWORD)."""
    match path:
        case "/login":
            return [("username", username), ("password", PASSWORD), ("remember", "on"),
                    ("next", "/sessions")]
        case "/register":
            return [("username", username + "new"), ("password", NEW_PASSWORD),
                    ("confirm", NEW_PASSWORD)]
        case "/account/password":
            return [("current", PASSWORD), ("password", NEW_PASSWORD), ("confirm", NEW_PASSWORD)]
        case "/account/delete" | "/sessions/revoke-others":
            return [("password", PASSWORD)]
    return []


HOSTILE = ["\x00", "\r\n", "\t", "\x7f", "\u202e", "\ufeff", "é", "\U0001d518", "%00", "'",
           '"', "<b>", "\\", " "]
poisons = st.sampled_from(HOSTILE) | text


@st.composite
def poisoned(draw: st.DrawFn, value: str) -> str:
    """``value`` with something hostile put in: a NUL, a line break, a bidi override..."""
    at = draw(st.integers(0, len(value)))
    return value[:at] + draw(poisons) + value[at:]


@st.composite
def fields(draw: st.DrawFn, right: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Form fields: random ones, or, mostly, the form that succeeds with some of it changed.

    Starting from the fields that make the form succeed, some are kept, some
    poisoned (a NUL or a bidi override put in), replaced, dropped or
    repeated, and random ones join, so the checks behind a successful step
    meet hostile input too, not only the first check of each form.
    """
    if draw(rarely):
        return draw(random_fields)
    pairs = []
    for name, value in right:
        match draw(st.sampled_from(["keep"] * 6 + ["poison"] * 2 + ["replace", "drop"])):
            case "keep":
                pairs.append((name, value))
            case "poison":
                pairs.append((name, draw(poisoned(value))))
            case "replace":
                pairs.append((name, draw(values)))
    pairs += draw(st.lists(st.tuples(field_names, values), max_size=3))
    return list(draw(st.permutations(pairs)))


def urlencoded(pairs: list[tuple[str, str]]) -> tuple[str, bytes]:
    """A browser's ordinary form body (duplicate names kept, in order)."""
    return FORM_TYPE, urlencode(pairs).encode()


def multipart(pairs: list[tuple[str, str]]) -> tuple[str, bytes]:
    """The same fields as ``multipart/form-data``."""
    boundary = "----fuzzboundary"
    encoder = MultipartEncoder(boundary.encode())
    body = encoder.send_event(Preamble(data=b""))
    for name, value in pairs:
        body += encoder.send_event(Field(name=name, headers=Headers()))
        body += encoder.send_event(Data(data=value.encode(), more_data=False))
    body += encoder.send_event(Epilogue(data=b""))
    return f"multipart/form-data; boundary={boundary}", body


encodings = st.sampled_from([urlencoded, multipart])
raw_bodies = st.tuples(st.sampled_from([FORM_TYPE, "multipart/form-data",
                                        "multipart/form-data; boundary=x"]),
                       st.binary(max_size=300))


@st.composite
def form_requests(draw: st.DrawFn, path: str, csrf_token: str | None,
                  right: list[tuple[str, str]] | None = None) -> Request:
    """A POST of random fields to ``path``, mostly well encoded, sometimes raw bytes.

    A given ``csrf_token`` is one of the fields, usually first (a field of the
    same name before it is a wrong token, which is fuzzed too).
    """
    pairs = draw(fields(right or []))
    if csrf_token is not None:
        at = draw(st.sampled_from([0, 0, 0, len(pairs)]) | st.integers(0, len(pairs)))
        pairs.insert(at, ("csrf_token", csrf_token))
    if draw(rarely):
        content_type, body = draw(raw_bodies)
    else:
        content_type, body = draw(encodings)(pairs)
    return Request("POST", path, [("Content-Type", content_type)], body)


# --- cookies ---------------------------------------------------------------------------------

cookie_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=80)


@st.composite
def altered(draw: st.DrawFn, cookie: str) -> str:
    """A session cookie changed the ways an attacker or a broken client would change it."""
    kind = draw(st.sampled_from(["replace", "insert", "delete", "truncate", "append", "quote",
                                 "case", "random", "random-id"]))
    at = draw(st.integers(0, max(len(cookie) - 1, 0)))
    char = draw(st.sampled_from(BASE64URL + ".=\"\\ ,;") | cookie_text.map(lambda t: t[:1]))
    match kind:
        case "replace":
            return cookie[:at] + char + cookie[at + 1:]
        case "insert":
            return cookie[:at] + char + cookie[at:]
        case "delete":
            return cookie[:at] + cookie[at + 1:]
        case "truncate":
            return cookie[:at]
        case "append":
            return cookie + draw(cookie_text)
        case "quote":
            return f'"{cookie}"'
        case "case":
            return cookie.swapcase()
        case "random-id":
            return draw(st.text(BASE64URL, min_size=43, max_size=43))
    return draw(cookie_text)


@st.composite
def cookie_headers(draw: st.DrawFn, values: st.SearchStrategy[str]) -> str:
    """A ``Cookie`` header holding session cookies drawn from ``values``, and junk around them.

    Several session cookies, other cookies, odd separators, or a header
    that is nothing but noise: whatever a browser, a proxy or an attacker sends.
    """
    if draw(rarely):
        return draw(header_text)
    pairs = [(COOKIE, draw(values)) for _ in range(draw(st.integers(1, 3)))]
    pairs += draw(st.lists(st.tuples(st.sampled_from(["__Host-csrf", "a", COOKIE.lower(), "",
                                                      "__Host-session "]), cookie_text),
                           max_size=2))
    pairs = draw(st.permutations(pairs))
    separator = draw(st.sampled_from(["; ", ";", " ; ", ", ", ";;"]))
    return separator.join(f"{name}={value}" for name, value in pairs)


def with_cookie(request: Request, cookie_header: str) -> Request:
    """``request`` sent with this ``Cookie`` header as well."""
    return Request(request.method, request.path, [*request.headers, ("Cookie", cookie_header)],
                   request.body)


# Values of every type Quart's tagged JSON carries, nested: what a signed payload may hold.
tagged_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | text | st.binary(max_size=16)
    | st.datetimes() | st.uuids() | text.map(Markup),
    lambda inner: st.lists(inner, max_size=3) | st.tuples(inner, inner)
    | st.dictionaries(text, inner, max_size=3),
    max_leaves=6,
)
# Raw JSON whose objects may look like the serializer's tags (" t", " di", ...) and are not.
TAGS = [" t", " b", " d", " u", " m", " di", " tt"]
raw_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | text,
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.sampled_from(TAGS) | text, inner, max_size=2),
    max_leaves=6,
)


@st.composite
def session_payloads(draw: st.DrawFn, users: list[User]) -> object:
    """A session mapping: a real login of one of ``users`` with fields broken, or random.

    ``iat`` and ``seen`` are near the present, so an unbroken payload is a
    session the app accepts and a broken one is refused for that field alone.
    """
    user = draw(st.sampled_from(users))
    now = int(time.time())
    seen = now - draw(st.integers(0, 1_000))
    payload: dict[str, object] = {
        USER_ID: user.id, USERNAME: user.username, VERSION: user.session_version,
        STARTED: seen - draw(st.integers(0, 1_000)), LAST_SEEN: seen,
        CSRF_TOKEN: draw(text), PERMANENT: draw(st.booleans()),
    }
    for key in draw(st.lists(st.sampled_from(sorted(payload)), unique=True, max_size=3)):
        if draw(st.booleans()):
            del payload[key]
        else:
            payload[key] = draw(st.sampled_from([0, -1, 2**31, 2**63, True, now + 3_600, 1.5])
                                | tagged_values)
    payload.update(draw(st.dictionaries(text, tagged_values, max_size=2)))
    return payload


@st.composite
def signed_cookies(draw: st.DrawFn, serializer: URLSafeTimedSerializer,
                   users: list[User]) -> str:
    """A cookie signed by the app's own serializer and key, holding anything at all.

    Either a payload the serializer writes (a session mapping, mostly
    plausible, or any tagged value), or raw JSON signed with the
    serializer's own signer, which the serializer itself would never write.
    """
    match draw(st.sampled_from(["session", "any", "raw"])):
        case "session":
            return serializer.dumps(draw(session_payloads(users)))
        case "any":
            return serializer.dumps(draw(tagged_values))
    raw = json.dumps(draw(raw_json | st.dictionaries(st.sampled_from(TAGS) | text, raw_json,
                                                     max_size=3))).encode()
    signer = serializer.make_signer(serializer.salt)
    return signer.sign(base64_encode(raw)).decode()


@st.composite
def requests(draw: st.DrawFn) -> Request:
    """Any method to a page or a random path, sometimes with a form body (no CSRF token)."""
    method = draw(methods)
    target = draw(st.sampled_from(PAGES + FORM_ROUTES) | targets)
    if draw(st.booleans()):
        return Request(method, target)
    form = draw(form_requests(target, None))
    return Request(method, target, form.headers, form.body)
