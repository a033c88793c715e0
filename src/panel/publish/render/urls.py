"""The one rule for a card's ``url``: it becomes a link only when it is an http(s) URL.

A card is written by whoever launched the tool, so its URL may be ``javascript:…``,
``data:…`` or text that is not a URL at all. Both renderers ask ``http_url`` first and show
anything else as plain (escaped) text, never as a link.
"""

from __future__ import annotations

import unicodedata
from urllib.parse import urlsplit

LINK_SCHEMES = ("http", "https")
# Percent-encoded in a Markdown link destination, so it cannot end the link or the autolink.
_DEST_ESCAPES = {c: f"%{ord(c):02X}" for c in "()<>| \\`\"'"}


def http_url(url: object) -> str | None:
    """``url`` when it is an absolute http(s) URL with a host and no white space or
    control characters; None otherwise."""
    if not isinstance(url, str) or not url:
        return None
    if any(ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf") for ch in url):
        return None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return None
    if parts.scheme.lower() not in LINK_SCHEMES or not parts.hostname:
        return None
    return url


def link_destination(url: str) -> str:
    """``url`` with the characters that could end a Markdown link percent-encoded."""
    return "".join(_DEST_ESCAPES.get(ch, ch) for ch in url)
