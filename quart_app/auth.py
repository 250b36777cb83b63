"""The tutorial's flow as routes only: register, log in, see your profile, log out.

Views ask ``identity`` who is logged in and call its verbs; they never touch
session internals.
"""

from typing import Final

from quart import (
    Blueprint,
    ResponseReturnValue,
    abort,
    current_app,
    flash,
    redirect,
    request,
)

from .csrf import EXPIRED, form_expired, harmless_without_login, resends_expired_form
from .identity import (
    authenticate,
    current_user,
    login_required,
    login_user,
    logout_user,
    register_account,
    session_times,
)
from .passwords import MAX_LENGTH as MAX_PASSWORD_LENGTH
from .passwords import password_problem
from .security import safe_next
from .templating import render
from .users import USERNAME_MAX_LENGTH, UsernameTakenError, username_problem

bp = Blueprint("auth", __name__)

LOGIN_FAILED: Final = "Incorrect username or password."
LOGIN_INCOMPLETE: Final = "Enter your username and password."
LOGIN_TOO_LONG: Final = "That username or password is longer than any account allows."
PASSWORDS_DIFFER: Final = "The two passwords do not match."
NAME_TAKEN: Final = "That username is taken. Choose another one."
LOGGED_OUT: Final = "You are logged out."
WELCOME: Final = "Welcome, {username}! Your account is ready and you are logged in."

@bp.get("/")
async def index() -> ResponseReturnValue:
    """Send people where they can act: their profile, or the login form."""
    return redirect("/profile" if current_user() else "/login", 302)


async def render_login(status: int = 200, error: str | None = None, username: str = "",
                       target: str | None = None) -> ResponseReturnValue:
    """The login form, with the message and the name already typed when it failed."""
    page = render("login.html", error=error, username=username, next=target)
    return page, status


@bp.get("/login")
async def login_form() -> ResponseReturnValue:
    """Show the form, or skip it for someone already logged in."""
    target = safe_next(request.args.get("next"))
    if current_user() is not None:
        return redirect(target or "/profile", 302)
    return await render_login(target=target)


@bp.post("/login")
@resends_expired_form
async def login() -> ResponseReturnValue:
    """Verify the password and start a brand-new session (no fixation).

    A stale form from another tab goes on to the profile if that tab's
    person has logged in meanwhile, else shows the form again, name kept.
    """
    form = await request.form
    username = form.get("username", "")
    password = form.get("password", "")
    target = safe_next(form.get("next"))
    if form_expired():
        if current_user() is not None:
            return redirect(target or "/profile", 303)
        return await render_login(400, EXPIRED, username, target)
    if not username or not password:
        return await render_login(400, LOGIN_INCOMPLETE, username, target)
    if len(username) > USERNAME_MAX_LENGTH or len(password) > MAX_PASSWORD_LENGTH:
        return await render_login(400, LOGIN_TOO_LONG, "", target)
    user = await authenticate(username, password)
    if user is None:
        return await render_login(401, LOGIN_FAILED, username, target)
    await login_user(user, remember="remember" in form)
    return redirect(target or "/profile", 303)


@bp.get("/profile")
@login_required
async def profile() -> ResponseReturnValue:
    """The user's page: who they are, since when, and until when without activity."""
    times = session_times()
    return render("profile.html", logged_in_at=times.logged_in_at, expires_at=times.expires_at,
                  remembered=times.remembered)


@bp.post("/logout")
@harmless_without_login
@resends_expired_form
async def logout() -> ResponseReturnValue:
    """End the session, server-side too; the next page says so, once.

    A visitor who was not logged in gets no message, so a stray POST
    starts no session (on Redis: no record) just to say so. A stale button
    from an older tab asks once more, with a fresh one.
    """
    if form_expired():
        return render("logout.html", error=EXPIRED), 400
    was_logged_in = current_user() is not None
    await logout_user()
    if was_logged_in:
        await flash(LOGGED_OUT)
    return redirect("/logout", 303)


@bp.get("/logout")
async def logged_out() -> ResponseReturnValue:
    """The tutorial's logout page; offers the POST button if still logged in."""
    return render("logout.html")


def require_registration() -> None:
    """Answer 404 on every registration route when the operator turned it off."""
    if not current_app.config["REGISTRATION_ENABLED"]:
        abort(404)


@bp.get("/register")
async def register_form() -> ResponseReturnValue:
    """The empty registration form (also for HEAD, which Quart routes here)."""
    require_registration()
    return render("register.html", error=None, username="")


@bp.post("/register")
@resends_expired_form
async def register() -> ResponseReturnValue:
    """Create an account and log its owner in (a fresh session, as at login)."""
    require_registration()
    form = await request.form
    username = form.get("username", "")
    password = form.get("password", "")
    if form_expired():
        return render("register.html", error=EXPIRED, username=username), 400
    error = username_problem(username) or password_problem(password)
    if error is None and password != form.get("confirm", ""):
        error = PASSWORDS_DIFFER
    if error is not None:
        return render("register.html", error=error, username=username), 400
    try:
        user = await register_account(username, password)
    except UsernameTakenError:
        return render("register.html", error=NAME_TAKEN, username=username), 409
    await login_user(user, remember=False)
    await flash(WELCOME.format(username=user.username))
    return redirect("/profile", 303)
