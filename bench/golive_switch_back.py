"""How long a bad release stays live before the automatic switch-back, with a real server.

Deploys a good release (a tiny HTTP server started by the restart command from `current`), then
N releases whose server cannot start, and reads the history: for each failed deploy, the time
from its switch to the automatic switch back, minus the configured health timeout (= restart +
switch-back cost), and the time from the switch back until the command exited with the old
release confirmed serving. Prints medians. Run: python bench/golive_switch_back.py [N]
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HEALTH_TIMEOUT = 1.0
SERVER = """\
import functools, http.server, os, sys
port, pidfile = int(sys.argv[1]), sys.argv[2]
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=os.getcwd())
server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
open(pidfile + ".tmp", "w").write(str(os.getpid()))
os.replace(pidfile + ".tmp", pidfile)
server.serve_forever()
"""
RESTART = """\
pidfile="$1"; port="$2"
if [ -f "$pidfile" ]; then
  pid=$(cat "$pidfile"); kill "$pid" 2>/dev/null; rm -f "$pidfile"
  for _ in $(seq 100); do
    state=$(cut -d' ' -f3 "/proc/$pid/stat" 2>/dev/null) || break
    [ "$state" = Z ] && break
    sleep 0.05
  done
fi
cd "$DEPLOY_ROOT/current" || exit 1
nohup python3 server.py "$port" "$pidfile" >/dev/null 2>&1 &
"""


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "releases_cli", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def ts(event: dict[str, str]) -> datetime:
    return datetime.fromisoformat(event["ts"].replace("Z", "+00:00"))


def main(n: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="golive-bench-"))
    root, app = tmp / "root", tmp / "app"
    root.mkdir()
    app.mkdir()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    pidfile = tmp / "server.pid"
    (tmp / "restart.sh").write_text(RESTART)
    (root / "releases.toml").write_text(
        f'[restart]\ncommand = "sh {tmp}/restart.sh {pidfile} {port}"\n'
        f'[health]\nurl = "http://127.0.0.1:{port}/index.html"\n'
        f"timeout = {HEALTH_TIMEOUT}\ninterval = 0.05\n"
    )
    (app / "index.html").write_text("good\n")
    (app / "server.py").write_text(SERVER)
    assert cli("deploy", "--root", str(root), "--source", str(app)).returncode == 0
    (app / "server.py").write_text("raise SystemExit(1)\n")
    live_bad, after_back = [], []
    try:
        for _ in range(n):
            result = cli("deploy", "--root", str(root), "--source", str(app), "--keep", "50")
            exited = time.time()
            assert result.returncode == 9, result.stderr
            events = [json.loads(x) for x in (root / ".releases/history.jsonl").open()]
            switches = [e for e in events if e["event"] == "switch"]
            to_bad, back = switches[-2], switches[-1]
            assert back.get("automatic") is True
            live_bad.append((ts(back) - ts(to_bad)).total_seconds() - HEALTH_TIMEOUT)
            after_back.append(exited - ts(back).timestamp())
    finally:
        if pidfile.exists():
            os.kill(int(pidfile.read_text()), signal.SIGTERM)
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"failed deploys: {n}; health timeout {HEALTH_TIMEOUT}s")
    print(
        f"bad release live beyond the health timeout (restart + probes), median: "
        f"{statistics.median(live_bad) * 1000:.0f} ms"
    )
    print(
        f"switch back -> old release confirmed serving and command exited, median: "
        f"{statistics.median(after_back) * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
