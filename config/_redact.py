"""Credentials in URLs stay secret: a URL that is shown, logged or stored carries none.

A server URL may hold a password (``http://alice:hunter2@gpu-box/v1``) or a token in its query
string (``?token=…``). Clients keep the password only as HTTP auth (``split_userinfo``) and show
``redact_url(url)``; ``redact_secrets(text)`` does the same for URLs anywhere in free text (log
lines from any library, exception messages).
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit, urlunsplit

REDACTED = "***"
"""What a secret query-string value is replaced with."""

# A query parameter whose name contains one of these carries a credential (token=, api_key=,
# X-Amz-Signature=, client_secret=, auth=, password=, ...). Hiding a harmless value now and
# then costs nothing; showing a secret costs a lot.
_SECRET_NAME_PARTS = ("token", "key", "sig", "pass", "pwd", "secret", "auth", "credential")

_SCHEME = r"[A-Za-z][A-Za-z0-9+.-]*://"
# The user-info part of a URL in free text: everything up to the last '@' of the authority.
_USERINFO_IN_TEXT = re.compile(rf"(?P<scheme>{_SCHEME})[^\s/?#@'\"<>]*(?:@[^\s/?#@'\"<>]*)*@")
_PARAM_IN_TEXT = re.compile(
    r"(?P<name>(?<=[?&;#])[^\s=&#;'\"<>]+)=(?P<value>[^\s&#;'\"<>]*)",
)


def redact_url(url: str) -> str:
    """``url`` fit to show, log or store: no user name or password, and ``***`` for the value
    of every query (or fragment) parameter that looks like a credential (``token=``, ``key=``,
    ``api_key=``, ``sig=``, ``password=``, ``secret=``, ``auth=``, ...). Never raises."""
    if "@" in url and "://" not in url and not url.startswith("//"):
        # No scheme (a mistyped setting such as alice:pw@host/v1): it starts with the authority.
        return redact_url("//" + url)[2:]
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unbalanced '[' in the host: treat it as text
        return redact_secrets(url)
    netloc = parts.netloc.rpartition("@")[2]
    query = _redact_params(parts.query)
    fragment = _redact_params(parts.fragment)
    if (netloc, query, fragment) == (parts.netloc, parts.query, parts.fragment):
        return url
    return urlunsplit(parts._replace(netloc=netloc, query=query, fragment=fragment))


def split_userinfo(url: str) -> tuple[str, tuple[str, str] | None]:
    """``url`` without its user info, and the (user name, password) it held, decoded; None
    when it held none. For HTTP clients: send the pair as Basic auth, never in the URL."""
    parts = urlsplit(url)
    userinfo, at, host = parts.netloc.rpartition("@")
    if not at:
        return url, None
    user, _, password = userinfo.partition(":")
    return urlunsplit(parts._replace(netloc=host)), (unquote(user), unquote(password))


def redact_secrets(text: str) -> str:
    """``text`` with every URL's user info removed and every credential-like URL parameter
    value replaced by ``***`` (for log lines and messages that may quote a URL)."""
    if "://" in text:
        text = _USERINFO_IN_TEXT.sub(lambda m: m["scheme"], text)
    if "=" in text:
        text = _PARAM_IN_TEXT.sub(_redact_param_match, text)
    return text


def _redact_params(params: str) -> str:
    if "=" not in params:
        return params
    pieces = []
    for piece in params.split("&"):
        name, eq, _value = piece.partition("=")
        pieces.append(f"{name}={REDACTED}" if eq and _is_secret_name(name) else piece)
    return "&".join(pieces)


def _redact_param_match(match: re.Match[str]) -> str:
    if not _is_secret_name(match["name"]):
        return match[0]
    return f"{match['name']}={REDACTED}"


def _is_secret_name(name: str) -> bool:
    lowered = unquote(name).lower()
    return any(part in lowered for part in _SECRET_NAME_PARTS)
