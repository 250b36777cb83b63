"""Random request lines and headers: whatever a client sends, the answer is never a 5xx."""

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from quart import Quart

from quart_app.users import User

from ..conftest import csrf_from
from .strategies import (
    FORM_TYPE,
    PAGES,
    ROOMY_THROTTLE,
    Request,
    assert_answered,
    cookie_headers,
    cookie_text,
    form_requests,
    header_text,
    jar_header,
    methods,
    rarely,
    requests,
    right_fields,
    send,
)

SERVED_HOSTS = ["localhost", "localhost:8000", "127.0.0.1", "[::1]:8000", "LOCALHOST"]
OTHER_HOSTS = ["localhost.", "localhost:0", "localhost:99999", "[::1", "::1", "evil.example",
               "localhost@evil", ""]
# Mostly a host that is served, so the checks behind the host check are fuzzed as well.
hosts = st.one_of(*[st.sampled_from(SERVED_HOSTS)] * 3, st.sampled_from(OTHER_HOSTS), header_text)
ORIGINS = ["http://localhost", "https://localhost", "http://localhost:8000", "null", "",
           "http://evil.example"]
FETCH_SITES = ["same-origin", "none", "same-site", "cross-site", "SAME-ORIGIN", ""]
CONTENT_TYPES = [FORM_TYPE, f"{FORM_TYPE}; charset=latin-1", f"{FORM_TYPE}; charset=bogus",
                 "multipart/form-data", "multipart/form-data; boundary=",
                 'multipart/form-data; boundary=""', "text/plain", "application/json", ""]
PROTOS = ["https", "http", "HTTPS", "", "javascript", "ftp"]
ADDRESSES = st.ip_addresses().map(str)

# Header values as a client, a proxy or an attacker sends them, by header; names h11 would
# refuse to repeat (Content-Length, Transfer-Encoding) appear once at most.
HEADER_VALUES = {
    "Host": hosts,
    "Origin": st.sampled_from(ORIGINS) | header_text,
    "Sec-Fetch-Site": st.sampled_from(FETCH_SITES) | header_text,
    "Content-Type": st.sampled_from(CONTENT_TYPES) | header_text,
    "X-Forwarded-For": st.lists(ADDRESSES | header_text, min_size=1, max_size=4)
    .map(", ".join),
    "X-Forwarded-Proto": st.sampled_from(PROTOS) | header_text,
    "X-Forwarded-Host": hosts,
    "Cookie": cookie_headers(cookie_text),
    "User-Agent": header_text,
    "Referer": header_text,
    "Accept": header_text,
    "Expect": st.sampled_from(["100-continue", ""]) | header_text,
    "Range": header_text,
    "Authorization": header_text,
}


@st.composite
def hostile_headers(draw: st.DrawFn, body_length: int) -> list[tuple[str, str]]:
    """Each header above or not, a few twice; sometimes a ``Content-Length`` that lies."""
    names = [name for name in HEADER_VALUES if draw(st.booleans())]
    names += draw(st.lists(st.sampled_from(sorted(HEADER_VALUES)), max_size=2))
    headers = [(name, draw(HEADER_VALUES[name])) for name in draw(st.permutations(names))]
    if draw(st.booleans()):
        length = draw(st.sampled_from([0, body_length - 1, body_length + 1, 10**6, 10**20])
                      | st.integers(0, 2 * body_length))
        headers.append(("Content-Length", str(max(length, 0))))
    if draw(rarely):
        headers.append(("Transfer-Encoding", "chunked"))
    return headers


@settings(max_examples=200)
@given(request=requests())
async def test_no_method_path_or_query_gets_a_server_error(app: Quart, request: Request) -> None:
    answer = await send(app.test_client(), request)
    event(f"{answer.status_code}")
    assert_answered(answer, request)


@pytest.mark.config(PROXY_FIX_HOPS=1, LOGIN_THROTTLE=ROOMY_THROTTLE)
@settings(max_examples=150)
@given(data=st.data())
async def test_no_headers_get_a_server_error(
    app: Quart, user: User, data: st.DataObject
) -> None:
    # A visitor who fetched the login form, so the token is right and a login gets as far
    # as the throttle and the password check, with whatever headers this example sends.
    # (Sent without the test client's cookie jar, which cannot file a cookie under a
    # malformed Host; the form's cookie goes in a header of its own.)
    browser = app.test_client()
    token = csrf_from(await (await browser.get("/login")).get_data(as_text=True))
    path = data.draw(st.sampled_from(["/login", "/register", "/logout", *PAGES]), label="path")
    form = data.draw(form_requests(path, token, right_fields(path, user.username)), label="form")
    method = data.draw(st.one_of(st.just("POST"), st.just("POST"), st.sampled_from(["GET", "HEAD"]),
                                 methods), label="method")
    headers = [*form.headers, ("Cookie", jar_header(browser)),
               *data.draw(hostile_headers(len(form.body)))]
    request = Request(method, path, headers, form.body)
    answer = await send(app.test_client(use_cookies=False), request)
    event(f"{method if method in {'POST', 'GET', 'HEAD'} else 'other'} {path} "
          f"{answer.status_code}")
    assert_answered(answer, request)

