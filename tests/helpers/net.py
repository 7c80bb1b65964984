"""Facts about this machine's loopback, for skip conditions."""

from __future__ import annotations

import socket


def ipv6_loopback() -> bool:
    """Whether ``::1`` can be bound here (some containers have no IPv6)."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False
