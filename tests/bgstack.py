"""A blue-green serving stack for tests: PM2 (from npm, pinned by examples/nextjs-tools) with
its own PM2_HOME, an unprivileged nginx with its own prefix, config, pid and logs, and a small
Python HTTP app that answers with the release it was started for. Nothing of the user's PM2 or
the system nginx is touched; both are stopped by the fixture that starts them."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import pwd
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from helpers import REPO, Cli, deploy_ok

from releases_cli.serving.nginx import quoted

TOOLS = REPO / ".venv" / "pm2-tools"  # gitignored, shared by test runs of this checkout
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

# The app: GET / answers 200 with its release (NEXT_DEPLOYMENT_ID, given by releases in the
# PM2 process file); /env?NAME says whether NAME is in its environment; BROKEN in the release
# makes it answer 500.
APP_SERVER = """\
import os, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

RELEASE = os.environ.get("NEXT_DEPLOYMENT_ID", "?")
BROKEN = os.path.exists("BROKEN")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.path.startswith("/env?"):
            body = ("yes" if self.path[5:] in os.environ else "no").encode()
        else:
            body = f"{RELEASE} {os.getpid()}".encode()
        self.send_response(500 if BROKEN else 200)
        self.send_header("x-release", RELEASE)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
"""

MAIN_CONF = """\
{user}worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/error.log warn;
events {{ worker_connections 256; }}
http {{
    client_body_temp_path {work}/tmp/body;
    proxy_temp_path {work}/tmp/proxy;
    fastcgi_temp_path {work}/tmp/fastcgi;
    uwsgi_temp_path {work}/tmp/uwsgi;
    scgi_temp_path {work}/tmp/scgi;
    access_log off;
    include {include};
{extra}
    server {{
        listen 127.0.0.1:{port};
        add_header X-Releases-Live ${app}_live_id always;
        add_header Set-Cookie ${app}_canary_cookie always;
        location / {{
            proxy_pass http://${app}_upstream;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_next_upstream error timeout http_502 http_503;
            proxy_next_upstream_tries 4;
        }}
    }}
}}
"""


def ensure_pm2() -> Path:
    """pm2 installed from npm into TOOLS (once per checkout)."""
    pm2 = TOOLS / "node_modules" / ".bin" / "pm2"
    if not pm2.exists():
        TOOLS.mkdir(parents=True, exist_ok=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copy2(REPO / "examples" / "nextjs-tools" / name, TOOLS / name)
        subprocess.run(
            ["npm", "ci", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=TOOLS,
            check=True,
            capture_output=True,
            timeout=600,
        )
    return pm2


@dataclass
class Stack:
    work: Path
    root: Path
    source: Path
    pm2: Path
    port: int  # nginx
    app: str = "t"
    nginx_proc: subprocess.Popen[bytes] | None = None
    reload_log: Path | None = None  # set by count_reloads()

    @property
    def include(self) -> Path:
        return self.root / ".releases" / "serve" / "nginx.conf"

    @property
    def main_conf(self) -> Path:
        return self.work / "nginx" / "nginx.conf"

    def env(self) -> dict[str, str]:
        return {"PM2_HOME": str(self.work / "pm2home")}

    def nginx_words(self) -> list[str]:
        ngx = self.work / "nginx"
        return [NGINX, "-p", str(ngx), "-e", str(ngx / "error.log")]

    def config(self, grace: str = "15m", extra: str = "") -> None:
        """releases.toml for blue-green with this stack's PM2 and nginx."""
        words = self.nginx_words()
        test = [*words, "-t", "-q", "-c", "{config}"]
        reload = [*words, "-c", str(self.main_conf), "-s", "reload"]
        if self.reload_log is not None:
            reload = [str(self._reload_wrapper(reload))]
        (self.root / "releases.toml").write_text(
            '[build]\ncommands = []\npreset = "none"\n'
            "[serve]\n"
            'mode = "blue-green"\n'
            f'app = "{self.app}"\n'
            f'ports = "{self.port + 1}-{self.port + 40}"\n'
            'exec_mode = "fork"\ninstances = 1\n'
            'start = ["server.py", "{port}"]\ninterpreter = "python3"\n'
            f'grace = "{grace}"\nstart_timeout = 20\ndrain_timeout = 5\n'
            f'nginx_config = "{self.main_conf}"\n'
            f"nginx_test = {toml_list(test)}\nnginx_reload = {toml_list(reload)}\n"
            f'pm2 = "{self.pm2}"\nurl = "http://127.0.0.1:{self.port}/"\n{extra}'
        )

    def count_reloads(self, grace: str = "15m") -> Path:
        """Rewrite releases.toml with serve.nginx_reload a wrapper that appends one line per
        reload to the file returned, then reloads nginx."""
        self.reload_log = self.work / "reloads.log"
        self.config(grace)
        return self.reload_log

    def _reload_wrapper(self, reload: list[str]) -> Path:
        import shlex

        assert self.reload_log is not None
        wrapper = self.work / "reload.sh"
        log = shlex.quote(str(self.reload_log))
        wrapper.write_text(f"#!/bin/sh\necho reload >> {log}\nexec {shlex.join(reload)}\n")
        wrapper.chmod(0o755)
        return wrapper

    def reloads(self) -> int:
        """nginx reloads so far (with count_reloads)."""
        assert self.reload_log is not None
        return len(self.reload_log.read_text().splitlines()) if self.reload_log.exists() else 0

    def pm2_run(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`pm2 ARGS` on this stack's PM2_HOME (`kill`, then `resurrect`: what a reboot does)."""
        return subprocess.run(
            [str(self.pm2), *args],
            env={**os.environ, **self.env()},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def write_main_conf(self, extra: str = "") -> None:
        """The main config (`extra` in its http block), with its temp directories."""
        ngx = self.work / "nginx"
        for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (ngx / "tmp" / sub).mkdir(parents=True, exist_ok=True)
        user = f"user {pwd.getpwuid(os.geteuid()).pw_name};\n" if os.geteuid() == 0 else ""
        self.main_conf.write_text(
            MAIN_CONF.format(
                user=user,
                work=ngx,
                include=quoted(str(self.include)),
                port=self.port,
                app=self.app,
                extra=extra,
            )
        )

    def start_nginx(self, extra: str = "") -> None:
        self.write_main_conf(extra)
        self.nginx_proc = subprocess.Popen(
            [*self.nginx_words(), "-c", str(self.main_conf), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                get(self.port)
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("nginx did not start")

    def stop(self) -> None:
        subprocess.run(
            [str(self.pm2), "kill"],
            env={**os.environ, **self.env()},
            capture_output=True,
            timeout=60,
            check=False,
        )
        if self.nginx_proc is not None and self.nginx_proc.poll() is None:
            self.nginx_proc.send_signal(3)  # SIGQUIT: graceful stop of our own nginx, by pid
            try:
                self.nginx_proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.nginx_proc.kill()
                self.nginx_proc.wait()

    def served(self, headers: dict[str, str] | None = None, port: int | None = None) -> str:
        """The release that answers GET / (through nginx unless `port`)."""
        status, release, _ = get(port or self.port, "/", headers)
        assert status == 200, (status, release)
        return release

    def start_other_app(
        self, name: str, env: dict[str, str] | None = None, cwd: Path | None = None
    ) -> None:
        """Start a PM2 app releases did not start (a `sleep`), in this stack's PM2."""
        import json

        path = self.work / f"{name}.pm2.json"
        app = {"name": name, "script": "/bin/sleep", "args": ["600"], "interpreter": "none"}
        app |= {"cwd": str(cwd)} if cwd is not None else {}
        path.write_text(json.dumps({"apps": [app | {"env": env or {}}]}))
        subprocess.run(
            [str(self.pm2), "start", str(path)],
            env={**os.environ, **self.env()},
            capture_output=True,
            timeout=60,
            check=True,
        )

    def pm2_names(self) -> set[str]:
        return set(self.pm2_list())

    def pm2_list(self) -> list[str]:
        """The name of every app PM2 runs (one per app: a duplicate shows twice)."""
        out = subprocess.run(
            [str(self.pm2), "jlist"],
            env={**os.environ, **self.env()},
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
        return [app["name"] for app in json.loads(out[out.find("[") :])]


def toml_list(words: list[str]) -> str:
    return "[" + ", ".join(f'"{w}"' for w in words) + "]"


def get(port: int, path: str = "/", headers: dict[str, str] | None = None) -> tuple[int, str, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        body = response.read().decode()
        return response.status, response.getheader("x-release") or "", body
    finally:
        conn.close()


def write_app(source: Path) -> None:
    source.mkdir(parents=True, exist_ok=True)
    (source / "server.py").write_text(APP_SERVER)


@contextlib.contextmanager
def running_stack(
    work: Path, cli: Callable[..., subprocess.CompletedProcess[str]]
) -> Iterator[Stack]:
    """A deploy root in blue-green mode under `work` with its own PM2 and nginx, the app of
    APP_SERVER in its source (replace server.py to serve another); both stopped after."""
    from helpers import free_port

    if shutil.which("node") is None or not Path(NGINX).exists():
        raise RuntimeError("blue-green tests need Node.js (for PM2) and nginx installed")
    s = Stack(work, work / "root", work / "src", ensure_pm2(), free_port())
    s.root.mkdir()
    write_app(s.source)
    assert cli("init", "--root", str(s.root)).returncode == 0
    s.config()
    (work / "nginx").mkdir()
    result = cli("nginx", "--root", str(s.root))  # writes the first include
    assert result.returncode == 0, result.stderr
    s.start_nginx()
    try:
        yield s
    finally:
        s.stop()


def deploy(cli: Cli, s: Stack, *extra: str) -> str:
    """Deploy the stack's app into its root (in its environment); the new release id."""
    return deploy_ok(cli, s.root, s.source, *extra, env=s.env())


def state(s: Stack) -> dict[str, object]:
    found: dict[str, object] = json.loads(
        (s.root / ".releases" / "serve" / "state.json").read_text()
    )
    return found


def apps(s: Stack) -> dict[str, dict[str, object]]:
    found = state(s)["apps"]
    assert isinstance(found, dict)
    return found


def reboot(s: Stack) -> None:
    """What a reboot does to PM2: every app gone, then the daemon back with its saved list."""
    assert s.pm2_run("kill").returncode == 0
    s.pm2_run("resurrect")  # nothing was saved: it only starts the daemon again
    assert s.pm2_names() == set()
    assert get(s.port)[0] == 502


def boot_hook(cli: Cli, s: Stack) -> tuple[list[str], dict[str, str], str]:
    """ExecStart and the Environment= values of the systemd unit `up --print-boot-hook`
    prints, and its cron line."""
    import shlex

    printed = cli("up", "--root", str(s.root), "--print-boot-hook", env=s.env())
    assert printed.returncode == 0, printed.stderr
    lines = printed.stdout.splitlines()
    unit = {line.split("=", 1)[0]: line.split("=", 1)[1] for line in lines if "=" in line}
    assert unit["Type"] == "oneshot" and unit["After"] == "network.target"
    command = shlex.split(unit["ExecStart"].replace("$$", "$").replace("%%", "%"))
    env = dict(
        shlex.split(line.removeprefix("Environment="))[0].split("=", 1)
        for line in lines
        if line.startswith("Environment=")
    )
    (cron,) = [line for line in lines if line.startswith("@reboot ")]
    return command, env, cron


def run_hook(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The unit's command as systemd runs it: from /, with only the unit's environment."""
    return subprocess.run(
        command, cwd="/", env=env, capture_output=True, text=True, timeout=300, check=False
    )
