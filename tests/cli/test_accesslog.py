"""The access log the canary analysis reads: real files, real rotation (rename + a new file,
copytruncate), bounds, refusals, and a real nginx (own prefix) writing the log with the
format `releases nginx` configures while clients send hostile headers."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import tracemalloc
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import NamedTuple

import pytest
from bgstack import NGINX, Stack
from helpers import Cli, free_port
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from releases_cli.core.safefs import UnsafePath
from releases_cli.serving import accesslog, nginx
from releases_cli.serving.accesslog import Cursor, Hit, read_since

LIMIT = 1 << 20


def line(at: float, status: int = 200, port: int | str = 3001, bucket: str = "") -> str:
    """A line as nginx writes it with accesslog.LOG_FORMAT."""
    upstream = f"127.0.0.1:{port}" if isinstance(port, int) else port
    return f'{at:.3f} {status} 0.012 "{upstream}" "{bucket}"\n'


def append(path: Path, text: str) -> None:
    with path.open("a") as f:
        f.write(text)


def read_all(path: Path, cursor: Cursor, limit: int = LIMIT) -> tuple[list[Hit], Cursor]:
    """read_since until the cursor stops moving."""
    hits: list[Hit] = []
    while True:
        more, after = read_since(path, cursor, limit)
        hits += more
        if after == cursor:
            return hits, cursor
        cursor = after


@pytest.fixture
def log(tmp_path: Path) -> Path:
    return tmp_path / "access.log"


def test_hits_are_read_once_from_the_cursor_on(log: Path) -> None:
    """Each call returns the lines added since the last one, parsed: time, the port that
    answered, status, request time, the visitor's bucket."""
    append(log, line(1.0, bucket="7") + line(2.0, 503, bucket="99"))
    hits, cursor = read_since(log, Cursor(), LIMIT)
    assert hits == [Hit(1.0, 3001, 200, 0.012, 7), Hit(2.0, 3001, 503, 0.012, 99)]
    assert read_since(log, cursor, LIMIT) == ([], cursor)
    append(log, line(3.0, port=3002))
    hits, after = read_since(log, cursor, LIMIT)
    assert hits == [Hit(3.0, 3002, 200, 0.012, None)]
    assert after.offset == log.stat().st_size and after.inode == log.stat().st_ino


def test_a_line_still_being_written_is_read_once_it_ends(log: Path) -> None:
    append(log, line(1.0) + "2.000 200 0.0")
    hits, cursor = read_since(log, Cursor(), LIMIT)
    assert [h.at for h in hits] == [1.0]
    append(log, '12 "127.0.0.1:3001" ""\n')
    hits, cursor = read_since(log, cursor, LIMIT)
    assert [h.at for h in hits] == [2.0] and cursor.malformed == 0


def test_end_of_starts_a_window_at_the_current_end(log: Path) -> None:
    """A window begins where the log ends now: earlier requests never count in it."""
    assert accesslog.end_of(log) == Cursor()
    append(log, line(1.0))
    start = accesslog.end_of(log)
    append(log, line(2.0))
    assert [h.at for h in read_since(log, start, LIMIT)[0]] == [2.0]


def test_upstream_lists_and_missing_upstreams(log: Path) -> None:
    """After a retry the last address answered; nginx's own answers and unix sockets have no
    port; a cookie that is not a bucket 0-99 is no bucket."""
    append(
        log,
        line(1.0, port="127.0.0.1:3001, 127.0.0.1:3002")
        + line(2.0, port="127.0.0.1:3001 : 127.0.0.1:3003")
        + line(3.0, 502, port="-")
        + line(4.0, port="unix:/run/app.sock")
        + line(5.0, bucket="100")
        + line(6.0, bucket="-1"),
    )
    hits, cursor = read_since(log, Cursor(), LIMIT)
    assert [(h.port, h.bucket) for h in hits] == [
        (3002, None), (3003, None), (None, None), (None, None), (3001, None), (3001, None),
    ]  # fmt: skip
    assert cursor.malformed == 0


def test_malformed_lines_are_skipped_and_counted(log: Path) -> None:
    """Lines of another format (a combined log at the same path, a forged field) are skipped,
    counted in the cursor, and the lines around them still read."""
    append(
        log,
        line(1.0)
        + '127.0.0.1 - - [04/Dec/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 5 "-" "curl"\n'
        + '1.000 200 0.001 "127.0.0.1:3001" "5" "extra"\n'
        + "\x1b]0;owned\x07\n"
        + line(2.0),
    )
    hits, cursor = read_since(log, Cursor(), LIMIT)
    assert [h.at for h in hits] == [1.0, 2.0]
    assert cursor.malformed == 3


def test_rotation_by_rename_finishes_the_old_file_then_reads_the_new_one(log: Path) -> None:
    """logrotate's default: the log is renamed to access.log.1, nginx keeps appending to it
    until it reopens its logs, then writes a new access.log. No line is lost or read twice."""
    append(log, line(1.0))
    hits, cursor = read_since(log, Cursor(), LIMIT)
    rotated = log.with_name("access.log.1")
    os.rename(log, rotated)
    append(rotated, line(2.0))  # nginx, before the reopen
    hits, cursor = read_since(log, cursor, LIMIT)
    assert [h.at for h in hits] == [2.0]
    log.touch()  # logrotate's `create`: an empty new file before nginx reopens
    append(rotated, line(2.5))
    hits, cursor = read_since(log, cursor, LIMIT)
    assert [h.at for h in hits] == [2.5]
    append(rotated, line(3.0))
    append(log, line(4.0) + line(5.0))  # the reopen: a new file
    hits, cursor = read_since(log, cursor, LIMIT)
    assert [h.at for h in hits] == [3.0, 4.0, 5.0]
    assert cursor.inode == log.stat().st_ino and cursor.offset == log.stat().st_size
    append(log, line(6.0))
    assert [h.at for h in read_since(log, cursor, LIMIT)[0]] == [6.0]


def test_rotation_by_rename_when_the_old_file_is_gone(log: Path) -> None:
    """A renamed log compressed or deleted before it was finished: the new one is read from
    its start."""
    append(log, line(1.0))
    _, cursor = read_since(log, Cursor(), LIMIT)
    os.rename(log, log.with_name("access.log.1"))
    append(log, line(2.0))
    log.with_name("access.log.1").unlink()  # compressed: logrotate's `compress`
    assert [h.at for h in read_since(log, cursor, LIMIT)[0]] == [2.0]


def test_copytruncate_reads_the_truncated_file_from_its_start(log: Path) -> None:
    """copytruncate: the log is copied, then truncated in place (same inode), and nginx
    appends from 0 again, both while it is shorter than the cursor and once it has grown
    past it."""
    append(log, line(1.0) + line(2.0))
    _, cursor = read_since(log, Cursor(), LIMIT)
    shutil.copy(log, log.with_name("access.log.1"))
    os.truncate(log, 0)
    append(log, line(3.0))
    hits, cursor = read_since(log, cursor, LIMIT)
    assert [h.at for h in hits] == [3.0]
    os.truncate(log, 0)
    append(log, line(4.0, bucket="12345678") + line(5.0))  # now longer than the cursor
    hits, cursor = read_since(log, cursor, LIMIT)
    assert [h.at for h in hits] == [4.0, 5.0] and cursor.malformed == 0


def test_each_call_reads_at_most_its_limit(log: Path) -> None:
    """A large backlog comes in pieces of at most `limit_bytes`, every line exactly once."""
    append(log, "".join(line(float(i)) for i in range(20_000)))  # about 700 KB
    limit = accesslog.MIN_LIMIT
    cursor = Cursor()
    seen: list[float] = []
    while True:
        hits, after = read_since(log, cursor, limit)
        assert after.offset - cursor.offset <= limit
        if after == cursor:
            break
        seen += [h.at for h in hits]
        cursor = after
    assert seen == [float(i) for i in range(20_000)]


def test_a_10_mb_line_is_skipped_without_being_kept(log: Path) -> None:
    """A 10 MB line (no newline for 10 MB) is skipped as one malformed line; memory stays near
    one read's limit, across calls and within one; the lines after it are read."""
    with log.open("w") as f:
        f.write(line(1.0))
        f.write("9" * (10 << 20) + "\n")
        f.write(line(2.0))
    tracemalloc.start()
    try:
        hits, cursor = read_all(log, Cursor(), 1 << 20)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [h.at for h in hits] == [1.0, 2.0] and cursor.malformed == 1
    assert peak < 4 << 20
    hits, _ = read_since(log, Cursor(), 20 << 20)  # one call reading all of it
    assert [h.at for h in hits] == [1.0, 2.0]


def test_a_long_line_still_being_written_is_skipped_once_it_ends(log: Path) -> None:
    append(log, line(1.0) + "x" * (accesslog.LINE_CAP + 10))
    _, cursor = read_since(log, Cursor(), LIMIT)
    assert cursor.skipping
    append(log, "y" * 100 + "\n" + line(2.0))
    hits, cursor = read_since(log, cursor, LIMIT)
    assert [h.at for h in hits] == [2.0] and cursor.malformed == 1 and not cursor.skipping


# A log's lines as (text, parses): good lines, garbage (no digit in it: it cannot parse),
# and lines longer than LINE_CAP.
LOG_LINE = st.one_of(
    st.builds(
        lambda i, b: (line(float(i), bucket=str(b)), True),
        st.integers(0, 10**6),
        st.integers(0, 99),
    ),
    st.builds(lambda t: (t.replace("\n", " ") + "\n", False), st.text('ab" .:x', max_size=60)),
    st.builds(
        lambda n: ("z" * n + "\n", False), st.integers(accesslog.LINE_CAP, 3 * accesslog.LINE_CAP)
    ),
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(lines=st.lists(LOG_LINE, max_size=40), limit=st.integers(1, 5 * accesslog.LINE_CAP))
def test_any_mix_read_in_any_pieces_gives_each_good_line_once(
    tmp_path: Path, lines: list[tuple[str, bool]], limit: int
) -> None:
    """Whatever the mix of good lines, garbage and over-long lines, and whatever the limit per
    call: every good line once, in order, and every other line counted as malformed."""
    log = tmp_path / "mix.log"
    log.write_text("".join(text for text, _ in lines))
    hits, cursor = read_all(log, Cursor(), limit)
    good = [text for text, parses in lines if parses]
    assert [f"{h.at:.3f}" for h in hits] == [text.split(" ", 1)[0] for text in good]
    assert cursor.malformed == len(lines) - len(good)
    assert cursor.offset == log.stat().st_size


@pytest.mark.parametrize("kind", ["fifo", "symlink", "directory"])
def test_what_is_not_a_regular_file_is_refused(log: Path, tmp_path: Path, kind: str) -> None:
    """A FIFO (never blocks us), a symlink (even to a real log) or a directory at the log's
    path: UnsafePath naming it, nothing read."""
    real = tmp_path / "elsewhere.log"
    append(real, line(1.0))
    if kind == "fifo":
        os.mkfifo(log)
    elif kind == "symlink":
        log.symlink_to(real)
    else:
        log.mkdir()
    with pytest.raises(UnsafePath) as refused:
        read_since(log, Cursor(), LIMIT)
    assert str(refused.value).startswith(f"{log} is ")
    assert accesslog.end_of(log) == Cursor()


def test_a_linked_log_directory_is_refused(tmp_path: Path) -> None:
    """`.releases/serve` replaced by a link to a directory holding a log: not followed."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    append(elsewhere / "access.log", line(1.0))
    (tmp_path / "serve").symlink_to(elsewhere)
    log = tmp_path / "serve" / "access.log"
    with pytest.raises(UnsafePath, match="symlink"):
        read_since(log, Cursor(), LIMIT)
    assert accesslog.end_of(log) == Cursor()


def test_no_log_yet_is_no_hits(tmp_path: Path) -> None:
    """Before nginx wrote anything (no file, not even its directory): no hits, same cursor;
    a log that appears later is read from its start."""
    log = tmp_path / "serve" / "access.log"
    assert read_since(log, Cursor(), LIMIT) == ([], Cursor())
    log.parent.mkdir()
    append(log, line(1.0))
    assert [h.at for h in read_since(log, Cursor(), LIMIT)[0]] == [1.0]


def test_cursor_round_trips_through_json_and_damage_gives_a_fresh_one() -> None:
    cursor = Cursor(12, 345, True, 6)
    assert Cursor.from_json(cursor.to_json()) == cursor
    assert Cursor.from_json({"inode": 12, "offset": 3}) == Cursor(12, 3)
    damaged: object
    for damaged in (None, [], {"inode": "12", "offset": 3}, {"inode": 1, "offset": -1}):
        assert Cursor.from_json(damaged) == Cursor()


# A real nginx writing the log. The app behind it is the `web` fixture (a stand-in that answers
# a settable status): what matters here is what nginx writes, not which app answers.


def raw_get(port: int, target: str, headers: list[tuple[str, str]]) -> None:
    """One request exactly as written (http.client would refuse some of these bytes)."""
    head = f"GET {target} HTTP/1.1\r\nHost: shop\r\nConnection: close\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head.encode("latin-1") + b"\r\n")
        while sock.recv(65536):
            pass


HOSTILE = [
    ('/a"b"%20500%200.001%20"127.0.0.1:1"%20"5', [("User-Agent", 'x" 500 0 "127.0.0.1:1" "5')]),
    ("/", [("Cookie", 'rl_t=7" 500 9.999 "127.0.0.1:1" "3')]),
    ("/", [("Cookie", 'rl_t=\\" 500 9.999 "127.0.0.1:1" "3')]),
    ("/", [("Cookie", "rl_t=42 503 1.000 x\xff\xfe")]),
    ("/?dpl=1%0A1.000%20500", [("Cookie", "other=1; rl_t=42")]),
]


class LoggingNginx(NamedTuple):
    port: int  # the printed server block's
    log: Path
    app_port: int
    master: subprocess.Popen[bytes]


@pytest.fixture
def logging_nginx(cli: Cli, tmp_path: Path, web: ThreadingHTTPServer) -> Iterator[LoggingNginx]:
    """A real nginx (own prefix) running the server block `releases nginx` prints, with the
    generated include routing release r1 to the `web` app; stopped after."""
    if not Path(NGINX).exists():
        pytest.fail("this test needs nginx installed")
    stack = Stack(tmp_path, tmp_path / "root", tmp_path / "src", Path("pm2"), free_port())
    stack.root.mkdir()
    assert cli("init", "--root", str(stack.root)).returncode == 0
    stack.config()
    (tmp_path / "nginx").mkdir()
    port = free_port()
    printed = cli("nginx", "--root", str(stack.root))
    assert printed.returncode == 0, printed.stderr
    block = "\n".join(x for x in printed.stdout.splitlines() if not x.startswith("include "))
    assert f'access_log "{stack.root}/.releases/serve/access.log" releases_t;' in block
    app_port = web.server_address[1]
    stack.include.write_text(nginx.render_include("t", "r1", {"r1": app_port}))
    stack.start_nginx(block.replace("listen 80;", f"listen 127.0.0.1:{port};"))
    assert stack.nginx_proc is not None
    try:
        yield LoggingNginx(port, accesslog.log_path(stack.root), app_port, stack.nginx_proc)
    finally:
        # Stack.stop would also run PM2, which this test never started.
        stack.nginx_proc.send_signal(signal.SIGQUIT)  # graceful stop of our own nginx, by pid
        stack.nginx_proc.wait(timeout=20)


def test_real_nginx_logs_hostile_requests_without_forged_fields(
    logging_nginx: LoggingNginx, web: ThreadingHTTPServer
) -> None:
    """The server block `releases nginx` prints and the include's log_format, in a real nginx:
    every request is one line that parses, with the status the app answered and the port that
    answered it, whatever quotes, spaces and bytes the path, user agent and cookie hold; the
    bucket is the cookie's only when it is one."""
    ngx = logging_nginx
    start = accesslog.end_of(ngx.log)
    for target, headers in HOSTILE:
        raw_get(ngx.port, target, headers)
    web.status = 500  # type: ignore[attr-defined]
    raw_get(ngx.port, "/", [("Cookie", "rl_t=3")])
    hits, cursor = read_since(ngx.log, start, LIMIT)
    assert cursor.malformed == 0
    assert [(h.port, h.status) for h in hits] == [(ngx.app_port, 200)] * 5 + [(ngx.app_port, 500)]
    assert [h.bucket for h in hits] == [None, None, None, None, 42, 3]
    assert all(h.seconds < 9 for h in hits)  # no forged 9.999 request time


def test_real_nginx_log_rotated_by_rename_and_reopen_then_copytruncate(
    logging_nginx: LoggingNginx,
) -> None:
    """logrotate's two ways with a real nginx: rename + `nginx -s reopen` (SIGUSR1), with
    requests before the rotation, between the rename and the reopen (nginx still writes the
    renamed file) and after it (the new file); then copytruncate. Every request is read once."""
    ngx = logging_nginx
    start = accesslog.end_of(ngx.log)

    def requests(bucket: int, n: int) -> None:
        for _ in range(n):
            raw_get(ngx.port, "/", [("Cookie", f"rl_t={bucket}")])

    requests(1, 3)
    hits, cursor = read_since(ngx.log, start, LIMIT)
    os.rename(ngx.log, ngx.log.with_name("access.log.1"))
    requests(2, 2)
    ngx.master.send_signal(signal.SIGUSR1)  # what `nginx -s reopen` sends
    deadline = time.monotonic() + 20  # the master reopens its logs asynchronously
    while not ngx.log.exists():
        assert time.monotonic() < deadline, "nginx did not reopen its log"
        time.sleep(0.01)
    requests(3, 2)
    more, cursor = read_since(ngx.log, cursor, LIMIT)
    hits += more
    shutil.copy(ngx.log, ngx.log.with_name("access.log.2"))
    os.truncate(ngx.log, 0)
    requests(4, 1)
    more, cursor = read_since(ngx.log, cursor, LIMIT)
    hits += more
    assert [h.bucket for h in hits] == [1, 1, 1, 2, 2, 3, 3, 4]
    assert cursor.malformed == 0 and cursor.inode == ngx.log.stat().st_ino
