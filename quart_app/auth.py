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
    FailedLogin,
    authenticate,
    current_user,
    login_required,
    login_user,
    logout_user,
    register_account,
    session_times,
    take_ending,
)
from .passwords import MAX_LENGTH as MAX_PASSWORD_LENGTH
from .passwords import password_problem
from .security import safe_next
from .sessions.policy import Ending
from .templating import in_words, render
from .throttle import wait_in_words
from .users import USERNAME_MAX_LENGTH, UsernameTakenError, typed_username, username_problem

bp = Blueprint("auth", __name__)

LOGIN_FAILED: Final = "Incorrect username or password."
# Added to LOGIN_FAILED once the typed name has this many attempts left or fewer.
WARN_WHEN_LEFT: Final = 3
ATTEMPTS_LEFT: Final = ("{left} more wrong {tries} and logging in to this account is paused "
                        "for {wait}.")
NOW_PAUSED: Final = "Logging in to this account is now paused for {wait}."
LOGIN_INCOMPLETE: Final = "Enter your username and password."
LOGIN_TOO_LONG: Final = "That username or password is longer than any account allows."
PASSWORDS_DIFFER: Final = "The two passwords do not match."
NAME_TAKEN: Final = "That username is taken. Choose another one."
LOGGED_OUT: Final = "You are logged out."
# What the login page tells a browser whose login ended without its logging out.
ENDINGS: Final = {
    Ending.ENDED_ELSEWHERE: "You were logged out: this session was ended from another device.",
    Ending.ENDED_BY_OPERATOR: "You were logged out by the administrator of this site.",
    Ending.TOO_MANY: "You were logged out: your account logged in on more than {max_sessions} "
                     "devices, and this one had been unused the longest.",
    Ending.PASSWORD_CHANGED: "You were logged out because your password was changed. "
                             "Log in with the new one.",
    Ending.ACCOUNT_DELETED: "You were logged out because your account was deleted.",
    Ending.IDLE: "You were logged out after {idle} without activity.",
    Ending.ABSOLUTE: "You were logged out: a login lasts at most {absolute}, however active. "
                     "Log in again to go on.",
    Ending.LIFETIME: "You were logged out: this device was remembered for {lifetime} "
                     "without a visit.",
}
WELCOME: Final = "Welcome, {username}! Your account is ready and you are logged in."

@bp.get("/")
async def index() -> ResponseReturnValue:
    """Send people where they can act: their profile, or the login form."""
    return redirect("/profile" if current_user() else "/login", 302)


async def render_login(status: int = 200, error: str | None = None, username: str = "",
                       target: str | None = None, invalid: str | None = None,
                       ended: str | None = None) -> ResponseReturnValue:
    """The login form, with the message, the name already typed and the field to fix, or
    why this browser's last login ended."""
    page = render("login.html", error=error, username=username, next=target, invalid=invalid,
                  ended=ended)
    return page, status


def failed_login_message(failed: FailedLogin) -> str:
    """The 401's words: a warning joins them when the typed name is close to its pause."""
    if failed.attempts_left > WARN_WHEN_LEFT:
        return LOGIN_FAILED
    wait = wait_in_words(failed.pause_ends_in)
    if failed.attempts_left <= 0:
        return f"{LOGIN_FAILED} {NOW_PAUSED.format(wait=wait)}"
    tries = "password" if failed.attempts_left == 1 else "passwords"
    return f"{LOGIN_FAILED} " + ATTEMPTS_LEFT.format(left=failed.attempts_left, tries=tries,
                                                     wait=wait)


def ending_in_words(ending: Ending) -> str:
    """One line on why this browser's login ended, with this app's own limits."""
    config = current_app.config
    return ENDINGS[ending].format(
        idle=in_words(config["SESSION_IDLE_TIMEOUT"]),
        absolute=in_words(config["SESSION_ABSOLUTE_TIMEOUT"]),
        lifetime=in_words(config["PERMANENT_SESSION_LIFETIME"]),
        max_sessions=config["SESSION_MAX_PER_USER"])


@bp.get("/login")
async def login_form() -> ResponseReturnValue:
    """Show the form, saying once why this browser's last login ended if it ended without
    a logout; or skip it for someone already logged in."""
    target = safe_next(request.args.get("next"))
    if current_user() is not None:
        return redirect(target or "/profile", 302)
    ending = take_ending()
    return await render_login(target=target,
                              ended=ending_in_words(ending) if ending is not None else None)


@bp.post("/login")
@resends_expired_form
async def login() -> ResponseReturnValue:
    """Verify the password and start a brand-new session (no fixation).

    A stale form from another tab goes on to the profile if that tab's
    person has logged in meanwhile, else shows the form again, name kept.
    """
    form = await request.form
    username = typed_username(form.get("username", ""))
    password = form.get("password", "")
    target = safe_next(form.get("next"))
    to_fill = "password" if username else "username"  # the typed password is never kept
    if form_expired():
        if current_user() is not None:
            return redirect(target or "/profile", 303)
        return await render_login(400, EXPIRED, username, target, invalid=to_fill)
    if not username or not password:
        return await render_login(400, LOGIN_INCOMPLETE, username, target, invalid=to_fill)
    if len(username) > USERNAME_MAX_LENGTH or len(password) > MAX_PASSWORD_LENGTH:
        return await render_login(400, LOGIN_TOO_LONG, "", target, invalid="username")
    outcome = await authenticate(username, password)
    if isinstance(outcome, FailedLogin):
        return await render_login(401, failed_login_message(outcome), username, target,
                                  invalid="password")
    await login_user(outcome, remember="remember" in form)
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


def render_register(status: int = 200, error: str | None = None, username: str = "",
                    invalid: str | None = None) -> ResponseReturnValue:
    """The registration form, with the message, the name kept and the field to fix."""
    return render("register.html", error=error, username=username, invalid=invalid), status


@bp.get("/register")
async def register_form() -> ResponseReturnValue:
    """The empty registration form (also for HEAD, which Quart routes here); someone
    logged in already has an account and goes to their profile."""
    require_registration()
    if current_user() is not None:
        return redirect("/profile", 302)
    return render_register()


@bp.post("/register")
@resends_expired_form
async def register() -> ResponseReturnValue:
    """Create an account and log its owner in (a fresh session, as at login)."""
    require_registration()
    form = await request.form
    username = typed_username(form.get("username", ""))
    password = form.get("password", "")
    if form_expired():
        return render_register(400, EXPIRED, username, "password")
    problem = username_problem(username)
    if problem is not None:
        return render_register(400, problem, username, "username")
    problem = password_problem(password)
    if problem is not None:
        return render_register(400, problem, username, "password")
    if password != form.get("confirm", ""):
        return render_register(400, PASSWORDS_DIFFER, username, "confirm")
    try:
        user = await register_account(username, password)
    except UsernameTakenError:
        return render_register(409, NAME_TAKEN, username, "username")
    await login_user(user, remember=False)
    await flash(WELCOME.format(username=user.username))
    return redirect("/profile", 303)
