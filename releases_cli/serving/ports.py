"""Ports of blue-green apps: picking a free one, and seeing whether anything is still connected.

A port is free when no app in the serve state has it and a bind on 127.0.0.1 with
SO_REUSEADDR succeeds (as Node binds: TIME_WAIT leftovers of a stopped app do not count, a
port the PM2 daemon still listens on does). Connections are read from /proc/net/tcp(6): an
app is drained when no established connection has its port as the local end.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable

_ESTABLISHED = "01"


def bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def accepts(port: int, timeout: float = 0.5) -> bool:
    """True when something accepts a TCP connection on 127.0.0.1:`port`."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port(low: int, high: int, taken: Iterable[int]) -> int | None:
    """The lowest port of low..high not taken and bindable; None when every one is in use."""
    used = set(taken)
    for port in range(low, high + 1):
        if port not in used and bindable(port):
            return port
    return None


def connections(port: int) -> int:
    """Established TCP connections whose local port is `port` (0 where /proc is not there)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as rows:
                next(rows, None)
                for row in rows:
                    fields = row.split()
                    if len(fields) > 3 and fields[3] == _ESTABLISHED:
                        local_port = int(fields[1].rsplit(":", 1)[1], 16)
                        count += local_port == port
        except OSError:
            continue
    return count
