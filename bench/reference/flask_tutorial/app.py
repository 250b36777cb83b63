"""The Flask session tutorial exactly as it is taught: three views and two template files.

The baseline, not our code: log in by name (no password), keep the name in
``session``, show it on the user page, ``session.permanent`` with the tutorial's
7-day lifetime, ``render_template`` with files from ``templates/``. Only the user
page's path is ``/profile`` so every contender answers the same URL.
"""

from datetime import timedelta

from flask import Flask, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue

app = Flask(__name__)
app.secret_key = "benchmark-only-secret-key-0123456789abcdef"  # noqa: S105 - a benchmark
app.permanent_session_lifetime = timedelta(days=7)


@app.route("/login", methods=["POST", "GET"])
def login() -> ResponseReturnValue:
    """The tutorial's login: trust the typed name."""
    if request.method == "POST":
        session.permanent = True
        session["user"] = request.form["nm"]
        return redirect(url_for("user"))
    if "user" in session:
        return redirect(url_for("user"))
    return render_template("login.html")


@app.route("/profile")
def user() -> ResponseReturnValue:
    """The tutorial's user page."""
    if "user" in session:
        return render_template("user.html", user=session["user"])
    return redirect(url_for("login"))


@app.route("/logout")
def logout() -> ResponseReturnValue:
    """The tutorial's logout (a GET, as taught)."""
    session.pop("user", None)
    return redirect(url_for("login"))
