"""Routes only: change your password or delete your account, password required."""

from typing import Final

from quart import Blueprint, ResponseReturnValue, flash, redirect, request

from .csrf import EXPIRED, form_expired, resends_expired_form
from .identity import (
    WRONG_PASSWORD,
    change_password,
    confirm_password,
    current_user,
    delete_account,
    login_required,
)
from .passwords import password_problem
from .templating import render

bp = Blueprint("account", __name__)

PASSWORDS_DIFFER: Final = "The two new passwords do not match."
SAME_PASSWORD: Final = "The new password must differ from the current one."  # noqa: S105
CHANGED: Final = "Password changed; your other sessions have ended."
DELETED: Final = "Your account has been deleted."
ACCOUNT_DELETED: Final = "account-deleted"  # the flash's category: the logged-out page says so


async def render_account(status: int = 200, error: str | None = None,
                         delete_error: str | None = None,
                         invalid: str | None = None) -> ResponseReturnValue:
    """The account page: the password form and the delete form, the field to fix marked."""
    page = render("account.html", error=error, delete_error=delete_error, invalid=invalid)
    return page, status


@bp.get("/account/password")
@login_required
async def password_form() -> ResponseReturnValue:
    """Show the account page."""
    return await render_account()


@bp.post("/account/password")
@login_required
@resends_expired_form
async def change() -> ResponseReturnValue:
    """Change the password: the current one first, the new one under the usual policy."""
    user = current_user()
    assert user is not None
    if form_expired():
        return await render_account(400, EXPIRED, invalid="current")
    form = await request.form
    current, new = form.get("current", ""), form.get("password", "")
    if not await confirm_password(user, current, action="password change"):
        return await render_account(403, WRONG_PASSWORD, invalid="current")
    problem = password_problem(new)
    if problem is not None:
        return await render_account(400, problem, invalid="password")
    if new != form.get("confirm", ""):
        return await render_account(400, PASSWORDS_DIFFER, invalid="confirm")
    if new == current:
        return await render_account(400, SAME_PASSWORD, invalid="password")
    await change_password(user, new)
    await flash(CHANGED)
    return redirect("/account/password?changed", 303)


@bp.post("/account/delete")
@login_required
@resends_expired_form
async def delete() -> ResponseReturnValue:
    """Delete the account and all its sessions; the browser lands on the logged-out page."""
    user = current_user()
    assert user is not None
    if form_expired():
        return await render_account(400, delete_error=EXPIRED)
    if not await confirm_password(user, (await request.form).get("password", ""),
                                  action="account deletion"):
        return await render_account(403, delete_error=WRONG_PASSWORD)
    await delete_account(user)
    await flash(DELETED, ACCOUNT_DELETED)
    return redirect("/logout", 303)
