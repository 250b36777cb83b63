"""The Flask session tutorial as it is usually taught, for side-by-side benchmarks.

This is the baseline, not our code: log in by name (no password), keep the
name in ``session``, show it on the user page, ``session.permanent`` with a
7-day lifetime. Only the page path is renamed to ``/profile`` so both servers
answer the same URL. Served by Gunicorn's sync workers, as the tutorial's
deployment advice has it.
"""

from datetime import timedelta

from flask import Flask, redirect, render_template_string, request, session, url_for

app = Flask(__name__)
app.secret_key = "benchmark-only-secret-key-0123456789abcdef"  # noqa: S105 - a benchmark
app.permanent_session_lifetime = timedelta(days=7)

LOGIN_PAGE = """<!doctype html><title>Login</title>
<form method="post"><p><input type="text" name="nm"></p>
<p><input type="submit" value="submit"></p></form>"""
USER_PAGE = """<!doctype html><title>Profile</title><h1>{{ user }}</h1>"""


@app.route("/login", methods=["POST", "GET"])
def login() -> object:
    """The tutorial's login: trust the typed name."""
    if request.method == "POST":
        session.permanent = True
        session["user"] = request.form["nm"]
        return redirect(url_for("user"))
    if "user" in session:
        return redirect(url_for("user"))
    return render_template_string(LOGIN_PAGE)


@app.route("/profile")
def user() -> object:
    """The tutorial's user page."""
    if "user" in session:
        return render_template_string(USER_PAGE, user=session["user"])
    return redirect(url_for("login"))


@app.route("/logout")
def logout() -> object:
    """The tutorial's logout (a GET, as taught)."""
    session.pop("user", None)
    return redirect(url_for("login"))
