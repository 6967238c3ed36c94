"""Helpers of the UI tests: a page's visible text and the CSRF token of the logged-in client."""

from __future__ import annotations

import re

from govshare.deps import SESSION_COOKIE, csrf_token


def visible_text(response) -> str:
    """The page without its tags, runs of whitespace collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.text))


def token(client) -> str:
    """What the page's hidden csrf_token field carries for the client's login session."""
    return csrf_token(client.cookies[SESSION_COOKIE])
