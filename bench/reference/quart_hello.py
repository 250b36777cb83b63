"""The floor of the framework: a Quart hello-world on our ``hypercorn.toml``.

One view per path the benchmark asks for, returning a fixed string: what
Quart and Hypercorn cost before an application does anything.
"""

from quart import Quart

app = Quart(__name__)


@app.route("/profile")
@app.route("/login")
async def hello() -> str:
    """Answer like a page, with none of a page's work."""
    return "Hello, World!"
