"""Who is asking: the client's address, believing X-Forwarded-For only from configured proxies."""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from typing import Any

from litestar.connection import ASGIConnection

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _networks(trusted: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(item, strict=False) for item in trusted)


def _trusted(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def client_address(connection: ASGIConnection[Any, Any, Any, Any], trusted: tuple[str, ...]) -> str:
    """The peer's address; if the peer is a trusted proxy, the right-most X-Forwarded-For hop that is not
    one (hops left of it could be forged by the client). Never believed by default (TRUSTED_PROXIES)."""
    peer = connection.client.host if connection.client else "unknown"
    networks = _networks(trusted)
    if not networks or not _trusted(peer, networks):
        return peer
    hops = [h.strip() for h in connection.headers.get("x-forwarded-for", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, networks):
            return hop[:64]
    return peer
