"""The client's address, which sign-in throttling counts: the socket's peer, or, only when that
peer is a trusted reverse proxy (`ONETHING_TRUSTED_PROXIES`), the address the proxies forwarded.

Anyone can send an X-Forwarded-For header; only a proxy we trust appends to it truthfully. So
the header is read from the right: each trusted proxy's entry names the hop before it, and the
first address that is not a trusted proxy is the client. Entries to its left were written by
the client and are ignored. With the setting empty (the default) the header is never read.
The server runs uvicorn without its own proxy-header handling (web/cli.py), so the peer seen
here is the socket's.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Sequence

from fastapi import Request

log = logging.getLogger(__name__)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

_warned_untrusted = False


def client_address(request: Request) -> str | None:
    """The client's IP address for this request (see the module's docstring)."""
    peer = request.client.host if request.client else None
    forwarded = request.headers.getlist("x-forwarded-for")
    trusted = request.app.state.runtime.settings.trusted_proxies
    return forwarded_client(peer, forwarded, trusted)


def forwarded_client(
    peer: str | None, forwarded: Sequence[str], trusted: Sequence[Network]
) -> str | None:
    """The client behind `peer`, given the X-Forwarded-For header's values and the trusted
    proxies: the right-most forwarded address that is not a trusted proxy."""
    client = _parse(peer) if peer else None
    if client is None or not _is_trusted(client, trusted):
        if forwarded and not trusted and peer:
            _warn_ignored(peer)
        return peer
    hops = [entry.strip() for value in forwarded for entry in value.split(",")]
    for hop in reversed(hops):
        address = _parse(hop)
        if address is None:  # not written by a trusted proxy: stop at the last one that was
            break
        client = address
        if not _is_trusted(address, trusted):
            break
    return str(client)


def _parse(text: str) -> Address | None:
    """An address as proxies write it: `203.0.113.7`, `2001:db8::1`, `[2001:db8::1]:4711` or
    `203.0.113.7:4711`; None when it is none of these (`unknown`, obfuscated names, garbage)."""
    text = text.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped or address


def _is_trusted(address: Address, trusted: Sequence[Network]) -> bool:
    return any(address.version == network.version and address in network for network in trusted)


def _warn_ignored(peer: str) -> None:
    """Say once per process that a forwarded address was ignored: an operator behind a reverse
    proxy who has not named it sees why every client shares the proxy's address."""
    global _warned_untrusted
    if not _warned_untrusted:
        _warned_untrusted = True
        log.warning(
            "X-Forwarded-For from %s ignored: no trusted proxies are set. If %s is your reverse "
            "proxy, set ONETHING_TRUSTED_PROXIES to it, or sign-in throttling counts all its "
            "clients as one address.",
            peer,
            peer,
        )
