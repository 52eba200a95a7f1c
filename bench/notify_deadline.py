"""How long [notify] webhooks hold a command, against notify.timeout.

Four webhooks on 127.0.0.1, each sent one notification by `pipelines.notify.send` with
`timeout = 1`:
- a server answering 204 at once: the cost of a working webhook;
- a closed port (refused at once, retried once): a failure that costs nothing;
- a server that never answers (a listening socket nobody accepts from: the kernel completes the
  connection, the request is sent, nothing comes back);
- a server that sends a 200 status line at once, then drips its 120-byte body one byte every
  half second (a minute in all): socket timeouts bound each read, not the request, so only a
  wall-clock deadline stops it.
Prints the median wall time of each send and its ratio to the working webhook's.
Run: python bench/notify_deadline.py [--runs N]
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _timing import arguments, interleaved, table
from health_deadline import _serve, _url

from releases_cli.config import NotifyConfig
from releases_cli.pipelines.notify import Notice, send

TIMEOUT = 1.0
NOTICE = Notice(
    {
        "event": "deploy finished",
        "summary": "deployed 20261127T120000Z in 1.2s",
        "release": "20261127T120000Z",
        "previous": None,
        "revision": None,
        "user": "bench",
        "host": "bench",
        "seconds": 1.2,
        "message": None,
        "root": "/srv/bench",
    }
)


def main() -> None:
    args = arguments(5, __doc__ or "")
    closed = socket.create_server(("127.0.0.1", 0))
    refused = _url(closed)
    closed.close()
    working, stop_ok = _serve(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
    silent = socket.create_server(("127.0.0.1", 0))  # never accepted from
    dripping, stop_drip = _serve(b"HTTP/1.1 200 OK\r\nContent-Length: 120\r\n\r\n", b"x" * 120)
    settings = NotifyConfig(timeout=TIMEOUT)

    def notify(url: str, should_work: bool) -> None:
        sent = send(NOTICE, [url], settings, lambda _m: None)
        assert sent == int(should_work), f"{url}: {sent} sent"

    try:
        samples = interleaved(
            {
                "204 at once": lambda: notify(_url(working), True),
                "refused port": lambda: notify(refused, False),
                "never answers": lambda: notify(_url(silent), False),
                "dripping body": lambda: notify(_url(dripping), False),
            },
            args.runs,
        )
    finally:
        for stop, server in ((stop_ok, working), (stop_drip, dripping)):
            stop.set()
            server.close()
        silent.close()
    table(
        f"notifications, notify.timeout = {TIMEOUT:g}s",
        samples,
        ["204 at once"],
        note="target: no webhook holds a command longer than notify.timeout",
    )


if __name__ == "__main__":
    main()
