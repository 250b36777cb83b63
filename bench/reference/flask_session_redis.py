"""The same tutorial with Flask-Session 0.8's Redis backend, as its documentation sets it up.

What a Flask user picks for server-side sessions: ``SESSION_TYPE = "redis"``
with a ``redis.Redis`` client, everything else Flask-Session's defaults (a
signed id in the cookie is off by default, msgspec serialisation, the
permanent lifetime as every record's TTL). The views and templates are the
tutorial's own, imported from ``flask_tutorial``.
"""

import os

import redis
from flask_session import Session

from bench.reference.flask_tutorial.app import app

app.config["SESSION_TYPE"] = "redis"
app.config["SESSION_REDIS"] = redis.Redis.from_url(
    os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"))
app.config["SESSION_KEY_PREFIX"] = os.environ.get("BENCH_KEY_PREFIX", "session:")
Session(app)
