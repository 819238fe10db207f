"""Offline mode's rule for the voice: a TTS server on this machine only (loopback).

A local Fish Speech on an air-gapped machine is the point of offline mode; a server on another
machine is off limits, and so is looking its name up. The decision is made from the URL alone:
nothing is resolved.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from config import Mode


def is_loopback_url(url: str) -> bool:
    """Whether ``url``'s host is this machine: 127.0.0.0/8, ::1 or "localhost"."""
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return False
    if not host:
        return False
    if host == "localhost":  # urlsplit lowercases it
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False  # any other name would need a lookup, and may lead anywhere
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def offline_refusal(url: str | None, mode: Mode) -> str | None:
    """Why the TTS server at ``url`` may not be used in ``mode`` (None: it may)."""
    if mode is not Mode.OFFLINE or url is None or is_loopback_url(url):
        return None
    return (
        f"offline mode: [tts] url {url} is not on this machine "
        "(offline, only a TTS server on this machine is used, e.g. http://127.0.0.1:8080)"
    )
