"""What every page's markup promises: masked password fields a password manager can fill,
no script that could get in its way, and a log-out button on every page of a logged-in user."""

from dataclasses import dataclass, field
from html.parser import HTMLParser

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client

from quart_app.users import User

from .conftest import log_in

# Every page with a password field: (path, whether it needs a login).
PASSWORD_PAGES = [
    pytest.param(("/login", False), id="login"),
    pytest.param(("/register", False), id="register"),
    pytest.param(("/account/password", True), id="account"),
    pytest.param(("/sessions", True), id="sessions"),
]
# Every page a logged-in user can reach by a GET, error pages included.
LOGGED_IN_PAGES = ["/profile", "/sessions", "/account/password", "/logout", "/no-such-page"]
PASSWORD_MANAGER_HINTS = {"current-password", "new-password"}


@dataclass
class Form:
    """One ``<form>``: where it goes, how, and the inputs and buttons inside it."""

    action: str | None
    method: str | None
    inputs: list[dict[str, str | None]] = field(default_factory=list)
    buttons: int = 0


class Markup(HTMLParser):
    """The forms, inputs, scripts and event-handler attributes of one page."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.inputs: list[dict[str, str | None]] = []
        self.forms: list[Form] = []
        self.scripts = 0
        self.handlers: list[str] = []
        self._open: Form | None = None
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Note what each tag contributes; an ``on…`` attribute is a script too."""
        attributes = dict(attrs)
        self.handlers += [name for name in attributes if name.startswith("on")]
        if tag == "script":
            self.scripts += 1
        elif tag == "form":
            self._open = Form(attributes.get("action"), attributes.get("method"))
            self.forms.append(self._open)
        elif tag == "input":
            self.inputs.append(attributes)
            if self._open is not None:
                self._open.inputs.append(attributes)
        elif tag == "button" and self._open is not None:
            self._open.buttons += 1

    def handle_endtag(self, tag: str) -> None:
        """Close the current form."""
        if tag == "form":
            self._open = None

    def password_fields(self) -> list[dict[str, str | None]]:
        """Inputs that take a password: named so, or declared so."""
        return [i for i in self.inputs
                if i.get("type") == "password" or i.get("name") in {"password", "current",
                                                                     "confirm"}]


async def markup(app: Quart, client: Client, user: User, path: str, logged_in: bool) -> Markup:
    if logged_in:
        await log_in(app, client, user)
    response = await client.get(path)
    assert response.status_code in {200, 404}
    return Markup(await response.get_data(as_text=True))


@pytest.fixture(params=PASSWORD_PAGES)
async def password_page(request: pytest.FixtureRequest, app: Quart, client: Client,
                        user: User) -> Markup:
    """Each page with a password field, as its user sees it; it has at least one."""
    path, logged_in = request.param
    page = await markup(app, client, user, path, logged_in)
    assert page.password_fields()
    return page


async def test_every_password_field_is_masked(password_page: Markup) -> None:
    types = [f.get("type") for f in password_page.password_fields()]
    assert set(types) == {"password"}


async def test_every_password_field_tells_password_managers_what_it_holds(
    password_page: Markup,
) -> None:
    hints = {f.get("autocomplete") for f in password_page.password_fields()}
    assert hints <= PASSWORD_MANAGER_HINTS


async def test_no_password_page_has_a_script_that_could_block_pasting(
    password_page: Markup,
) -> None:
    assert (password_page.scripts, password_page.handlers) == (0, [])


@pytest.mark.parametrize("path", LOGGED_IN_PAGES)
async def test_every_page_of_a_logged_in_user_has_a_log_out_button(
    app: Quart, client: Client, user: User, path: str
) -> None:
    page = await markup(app, client, user, path, logged_in=True)
    log_out = [form for form in page.forms if form.action == "/logout"]
    assert log_out
    assert all(form.method == "post" and form.buttons == 1 for form in log_out)
    assert all(any(i.get("name") == "csrf_token" and i.get("value") for i in form.inputs)
               for form in log_out)


async def test_every_password_field_takes_at_most_the_128_characters_the_server_accepts(
    password_page: Markup,
) -> None:
    assert {field.get("maxlength") for field in password_page.password_fields()} == {"128"}


async def test_a_new_password_field_asks_for_the_12_characters_the_server_requires(
    password_page: Markup,
) -> None:
    new = [f for f in password_page.password_fields() if f.get("autocomplete") == "new-password"]
    assert all(field.get("minlength") == "12" for field in new)


@pytest.mark.parametrize("path", ["/login", "/register"])
async def test_the_username_field_takes_the_64_characters_the_server_accepts(
    app: Quart, client: Client, user: User, path: str,
) -> None:
    page = await markup(app, client, user, path, logged_in=False)
    [name] = [i for i in page.inputs if i.get("name") == "username"]
    assert name.get("maxlength") == "64"


async def test_the_registration_form_says_and_checks_what_a_username_may_be(
    app: Quart, client: Client, user: User,
) -> None:
    page = await markup(app, client, user, "/register", logged_in=False)
    [name] = [i for i in page.inputs if i.get("name") == "username"]
    assert name.get("pattern") == r"[A-Za-z0-9._\-]{1,64}"
    text = await (await client.get("/register")).get_data(as_text=True)
    assert "Up to 64 letters, digits, dots, dashes or underscores." in text
    assert "12 to 128 characters." in text
