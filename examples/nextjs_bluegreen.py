"""The Next.js example served blue-green by `releases` ([serve] mode = "blue-green"): every
release its own PM2 app on its own port, nginx flipped between them, the previous release warm.

Everything lives under one work directory (a test's tmp_path, or the demo's): PM2_HOME, the
deploy root, nginx's config, pid and logs. The nginx server block is the one `releases nginx`
prints, with only its `listen` line changed. Used by tests/e2e/test_bluegreen_e2e.py and
`make demo`.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from nextjs_stack import NPM_CI, REPO, App, Stack

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
ACTIONS_KEY = "c2hhcmVkLWtleS1mb3ItYmx1ZS1ncmVlbi1kZW1vISE="  # 32 bytes, base64; demo only
MAIN = """\
{user}worker_processes 2;
pid {ngx}/nginx.pid;
error_log {ngx}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    client_body_temp_path {ngx}/tmp/body;
    proxy_temp_path {ngx}/tmp/proxy;
    fastcgi_temp_path {ngx}/tmp/fastcgi;
    uwsgi_temp_path {ngx}/tmp/uwsgi;
    scgi_temp_path {ngx}/tmp/scgi;
    access_log off;
    keepalive_timeout 65s;
{snippet}
}}
"""


def toml_list(words: list[str]) -> str:
    return "[" + ", ".join(f'"{w}"' for w in words) + "]"


@dataclass
class BlueGreen:
    work: Path
    proxy_port: int
    first_port: int  # apps get first_port..first_port+19
    grace: str = "15m"
    instances: int = 2
    config: str = ""  # appended to releases.toml: more [serve] keys, then other tables
    log: list[str] = field(default_factory=list)
    nginx_proc: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        # The reload-mode stack's tools and source handling (its App is unused here).
        self.stack = Stack(self.work, (App("bluegreen", 0, self.proxy_port),))

    @property
    def root(self) -> Path:
        return self.stack.root

    @property
    def ngx(self) -> Path:
        return self.work / "nginx"

    def env(self) -> dict[str, str]:
        return {"PM2_HOME": str(self.work / "pm2"), "PATH": os.environ.get("PATH", "")}

    def nginx_words(self) -> list[str]:
        return [NGINX, "-p", str(self.ngx), "-e", str(self.ngx / "error.log")]

    def command(self, *args: str) -> list[str]:
        """`releases ARGS --root ROOT` from this checkout (run with cli_env())."""
        return [sys.executable, "-m", "releases_cli", *args, "--root", str(self.root)]

    def cli_env(self) -> dict[str, str]:
        return {**os.environ, "PYTHONPATH": str(REPO), **self.env()}

    def run(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        """`releases ARGS`, whatever its exit status."""
        return subprocess.run(
            self.command(*args),
            env=self.cli_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def releases(self, *args: str) -> str:
        done = self.run(*args)
        if done.returncode != 0:
            raise RuntimeError(f"releases {' '.join(args)}: {done.returncode}\n{done.stderr}")
        return done.stdout

    def setup(self) -> None:
        """PM2 from npm, the example's source, a deploy root configured for blue-green, and
        nginx running the server block `releases nginx` prints."""
        self.work.mkdir(parents=True, exist_ok=True)
        self.stack.install_tools()
        self.stack.copy_source()
        self.root.mkdir(parents=True, exist_ok=True)
        self.releases("init")
        # One Server Actions key for every build (shared/), so an unchanged action keeps its id
        # from build to build (Next derives action ids from it).
        (self.root / "shared" / ".env.production").write_text(
            f"NEXT_SERVER_ACTIONS_ENCRYPTION_KEY={ACTIONS_KEY}\n"
        )
        pm2 = self.stack.pm2_bin
        test = [*self.nginx_words(), "-t", "-q", "-c", "{config}"]
        reload = [*self.nginx_words(), "-c", str(self.ngx / "nginx.conf"), "-s", "reload"]
        (self.root / "releases.toml").write_text(
            f"""keep = 5
[shared]
files = [".env.production"]
[build]
preset = "nextjs"
commands = ["{NPM_CI}", "node node_modules/next/dist/bin/next build"]
[serve]
mode = "blue-green"
app = "demo"
ports = "{self.first_port}-{self.first_port + 19}"
instances = {self.instances}
exec_mode = "cluster"
grace = "{self.grace}"
health_path = "/api/version"
start_timeout = 90
nginx_config = "{self.ngx / "nginx.conf"}"
nginx_test = {toml_list(test)}
nginx_reload = {toml_list(reload)}
pm2 = "{pm2}"
url = "http://127.0.0.1:{self.proxy_port}/api/version"
{self.config}"""
        )
        snippet = self.releases("nginx").replace(
            "listen 80;", f"listen 127.0.0.1:{self.proxy_port};"
        )
        for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (self.ngx / "tmp" / sub).mkdir(parents=True, exist_ok=True)
        user = f"user {pwd.getpwuid(os.geteuid()).pw_name};\n" if os.geteuid() == 0 else ""
        indented = "".join(f"    {line}\n" if line else "\n" for line in snippet.splitlines())
        (self.ngx / "nginx.conf").write_text(MAIN.format(user=user, ngx=self.ngx, snippet=indented))
        self.nginx_proc = subprocess.Popen(
            [*self.nginx_words(), "-c", str(self.ngx / "nginx.conf"), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(0.5)
        if self.nginx_proc.poll() is not None:
            raise RuntimeError(f"nginx did not start: {(self.ngx / 'error.log').read_text()}")

    def deploy(self, version: str) -> None:
        self.stack.set_version(self.stack.source, version)
        started = time.monotonic()
        self.releases("deploy", "--source", str(self.stack.source))
        self.log.append(f"deploy {version}: {time.monotonic() - started:.1f}s")

    def current(self) -> str:
        return os.readlink(self.root / "current").rsplit("/", 1)[-1]

    def rollback(self, to: str | None = None) -> float:
        """`releases rollback [--to ID]`; the seconds from its start until every new request
        through nginx (a fresh connection every 10 ms) got the target's build, which is also
        what the command itself waits for before it returns (serve.url)."""
        args = ["rollback", *(["--to", to] if to else [])]
        expect = self._version_of(to) if to else None
        started = time.monotonic()
        with ThreadPoolExecutor(1) as pool:
            command = pool.submit(self.releases, *args)
            seen: list[tuple[float, str | None]] = []
            while not command.done():
                seen.append((time.monotonic() - started, self._version()))
                time.sleep(0.01)
            command.result()
        took = time.monotonic() - started
        expect = expect or self._version()
        serving = next(
            (at for i, (at, v) in enumerate(seen) if all(x == expect for _, x in seen[i:])),
            took,
        )
        self.log.append(f"rollback: serving after {serving:.2f}s, command {took:.2f}s")
        return serving

    def _version(self) -> str | None:
        import json
        import urllib.request

        url = f"http://127.0.0.1:{self.proxy_port}/api/version"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return str(json.loads(response.read())["version"])
        except (OSError, ValueError, KeyError):
            return None

    def _version_of(self, release_id: str) -> str | None:
        import re

        text = (self.root / "releases" / release_id / "version.mjs").read_text()
        found = re.search(r'VERSION = "([^"]+)"', text)
        return found.group(1) if found else None

    def reap(self) -> None:
        self.releases("reap")

    def stop(self) -> None:
        self.stack.pm2_kill()
        if self.nginx_proc is not None and self.nginx_proc.poll() is None:
            self.nginx_proc.send_signal(3)  # SIGQUIT: our own nginx, by its pid
            try:
                self.nginx_proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.nginx_proc.kill()
                self.nginx_proc.wait()
