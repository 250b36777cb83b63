"""A browser's ``User-Agent`` in words for the sessions page: "Chrome on Android".

Only a rough name for a person to recognise their own devices; it decides
nothing, so a simple ordered table beats a user-agent parsing library.
"""

from typing import Final

# Order matters: Edge and Opera also say "Chrome", Chrome also says "Safari".
BROWSERS: Final = (
    ("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"), ("FxiOS/", "Firefox"),
    ("CriOS/", "Chrome"), ("Chromium/", "Chromium"), ("Chrome/", "Chrome"),
    ("Safari/", "Safari"), ("curl/", "curl"), ("python-httpx/", "a Python script"),
)
SYSTEMS: Final = (
    ("Android", "Android"), ("iPhone", "iOS"), ("iPad", "iPadOS"), ("CrOS", "ChromeOS"),
    ("Windows", "Windows"), ("Mac OS X", "macOS"), ("Macintosh", "macOS"), ("Linux", "Linux"),
)


def device_in_words(user_agent: str) -> str:
    """Name the browser and system a session was started from, or say it is unknown."""
    browser = next((name for mark, name in BROWSERS if mark in user_agent), None)
    system = next((name for mark, name in SYSTEMS if mark in user_agent), None)
    if browser and system:
        return f"{browser} on {system}"
    return browser or (f"A browser on {system}" if system else "An unknown device")
