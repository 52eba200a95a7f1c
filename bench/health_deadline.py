"""How long a failing health check holds a deploy, against the configured timeout.

Three servers on 127.0.0.1, each failing the check its own way, checked with `timeout = 1`:
- a closed port (refused at once, polled until the deadline): the baseline;
- a server that answers 503 (a complete answer, polled until the deadline);
- a server that sends a 200 status line and headers at once, then drips its 120-byte body one
  byte every half second (a minute in all). Socket timeouts bound each read, not a request, so
  a check without a wall-clock deadline waits for the whole minute and then says healthy.
Prints the median wall time of each check and its ratio to the refused port's.
Run: python bench/health_deadline.py [--runs N]
"""

from __future__ import annotations

import socket
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _timing import arguments, interleaved, table

from releases_cli.config import HealthConfig
from releases_cli.serving.health import check_health

TIMEOUT = 1.0


def _serve(script: bytes, drip: bytes = b"") -> tuple[socket.socket, threading.Event]:
    """A server answering every connection with `script`, then `drip` a byte per 0.5 s."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def answer(conn: socket.socket) -> None:
        with conn:
            try:
                conn.recv(65536)
                conn.sendall(script)
                for byte in drip:
                    if stop.wait(0.5):
                        return
                    conn.sendall(bytes([byte]))
            except OSError:
                return

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=answer, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    return server, stop


def _url(server: socket.socket) -> str:
    return f"http://127.0.0.1:{server.getsockname()[1]}/"


def main() -> None:
    args = arguments(5, __doc__ or "")
    closed = socket.create_server(("127.0.0.1", 0))
    refused = _url(closed)
    closed.close()
    unavailable, stop_503 = _serve(b"HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n")
    dripping, stop_drip = _serve(b"HTTP/1.1 200 OK\r\nContent-Length: 120\r\n\r\n", b"x" * 120)

    def check(url: str) -> None:
        problem = check_health(HealthConfig(url, timeout=TIMEOUT, interval=0.1), lambda _m: None)
        assert problem is not None, f"{url} passed the check"

    try:
        samples = interleaved(
            {
                "refused port": lambda: check(refused),
                "503 answers": lambda: check(_url(unavailable)),
                "dripping body": lambda: check(_url(dripping)),
            },
            args.runs,
        )
    finally:
        for stop, server in ((stop_503, unavailable), (stop_drip, dripping)):
            stop.set()
            server.close()
    table(
        f"health check, timeout = {TIMEOUT:g}s",
        samples,
        ["refused port"],
        note="target: every failing check returns at its timeout (ratio ~1)",
    )


if __name__ == "__main__":
    main()
