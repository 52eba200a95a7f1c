"""docs/blue-green.md's user-owned-nginx path, run as written: the setup block and the
deploy/rollback block, by bash from the repository root with `set -e`, this checkout's
`releases` and a real PM2 (its own PM2_HOME) on PATH, the real nginx (its own prefix, on a
free port) and the Next.js example built by the guide's own releases.bluegreen.toml. Only the
variables the guide names are set (ROOT, NGX, PORT, PM2_HOME; APP for the second block, as
the guide's shell has it from the first). The guide fails this test as
soon as it drifts from the tool.

Also the figures the guide's setup gives: `releases deploy` and the warm `releases rollback`,
timed from bash's trace of the blocks (printed with -s; never asserted).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from bgstack import NGINX, ensure_pm2
from helpers import REPO, current_id, free_port, write_launcher

pytestmark = pytest.mark.e2e

GUIDE = REPO / "docs" / "blue-green.md"
ROUNDS = 3  # deploy + rollback rounds: the figures are medians over these


def block(name: str, doc: Path = GUIDE) -> str:
    """The ```sh block right under the `<!-- NAME: tests/... runs this block -->` line of `doc`
    (the blue-green guide unless given)."""
    lines = doc.read_text().splitlines()
    (start,) = [i + 1 for i, line in enumerate(lines) if line.startswith(f"<!-- {name}: tests/")]
    assert lines[start] == "```sh", "the marker is right above the ```sh block"
    end = lines.index("```", start + 1)
    return "\n".join(lines[start + 1 : end]) + "\n"


@dataclass
class Guide:
    env: dict[str, str]
    root: Path
    ngx: Path
    port: int

    def run(self, name: str, doc: Path = GUIDE, **env: str) -> tuple[str, list[tuple[str, float]]]:
        """Run a block of `doc` (in a new shell: `env` has what the guide's shell would still
        hold); its stdout, and each traced command with the seconds until the next."""
        script = self.root.parent / f"{name}.sh"
        script.write_text(block(name, doc))
        # Traced with a time stamp per command (bash as root ignores PS4 from the environment).
        trace = "PS4='+ $EPOCHREALTIME '; set -x; . \"$0\""
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", trace, str(script)],
            cwd=REPO,
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=1800,
            check=False,
        )
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
        return result.stdout, traced(result.stderr)

    def served(self, path: str) -> tuple[int, str, bytes]:
        url = f"http://127.0.0.1:{self.port}{path}"
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.headers.get("content-type", ""), response.read()


def traced(stderr: str) -> list[tuple[str, float]]:
    """(command, seconds) from `set -x` with PS4 = "+ $EPOCHREALTIME ": each top-level command
    lasts until the next one starts (the last is not timed). `++`: the script's own commands,
    sourced by the `+` level."""
    marks = [
        (float(m[1]), m[2]) for m in re.finditer(r"^\+\+ (\d+\.\d+) (.*)$", stderr, flags=re.M)
    ]
    return [(cmd, marks[i + 1][0] - t) for i, (t, cmd) in enumerate(marks[:-1])]


@pytest.fixture
def guide() -> Iterator[Guide]:
    with open_guide() as g:
        yield g


@contextlib.contextmanager
def open_guide() -> Iterator[Guide]:
    """The guide's shell: ROOT, NGX, PORT, PM2_HOME and this checkout's `releases` and PM2 on
    PATH; its PM2 and nginx stopped and its directory removed after."""
    for tool in ("node", "npm", "curl"):
        assert shutil.which(tool), f"{tool} is missing"
    pm2 = ensure_pm2()
    # Readable by nginx's workers (`nobody` when the tests run as root): tmp_path is not.
    work = Path(tempfile.mkdtemp(prefix="releases-guide-"))
    work.chmod(0o755)
    bin_dir = work / "bin"
    write_launcher(bin_dir / "releases")
    nginx_dir = str(Path(NGINX).parent)
    env = {k: v for k, v in os.environ.items() if k not in ("RELEASES_ROOT", "APP")}
    path = f"{bin_dir}:{pm2.parent}:{env['PATH']}:{nginx_dir}"
    g = Guide(env, work / "shop", work / "nginx", free_port())
    env.update(
        PATH=path,
        PYTHONPATH=str(REPO),
        NO_COLOR="1",
        ROOT=str(g.root),
        NGX=str(g.ngx),
        PORT=str(g.port),
        PM2_HOME=str(work / "pm2"),
        NEXT_TELEMETRY_DISABLED="1",
    )
    try:
        yield g
    finally:
        subprocess.run([str(pm2), "kill"], env=env, capture_output=True, timeout=60, check=False)
        pid_file = g.ngx / "nginx.pid"
        if pid_file.exists():
            words = [NGINX, "-p", str(g.ngx), "-e", str(g.ngx / "error.log")]
            subprocess.run(
                [*words, "-c", str(g.ngx / "nginx.conf"), "-s", "quit"],
                capture_output=True,
                timeout=30,
                check=False,
            )
        shutil.rmtree(work, ignore_errors=True)


def test_user_owned_nginx_path_runs_as_written(guide: Guide) -> None:
    """Setup block: nginx starts on the generated config (mime types, temp paths, the include
    in its http block), doctor finds no problem, the first deploy is served through nginx,
    a chunk comes from disk with its type. Deploy block, ROUNDS times: each deploy goes live, each
    rollback brings back the release live before (warm: its PM2 app was never restarted)."""
    out, steps = guide.run("guide-setup")
    first = current_id(guide.root)  # doctor passed (exit 0 under set -e), then the deploy
    assert json.loads(out.strip().splitlines()[-1])["release"] == first
    deploys = [t for cmd, t in steps if cmd.startswith("releases deploy")]
    page = guide.served("/")[2].decode()
    chunk = re.search(r'src="(/_next/static/chunks/[^"?]+\.js)', page)
    assert chunk, page[:500]
    status, ctype, _ = guide.served(chunk[1])  # from disk, with its type from mime.types
    assert (status, ctype.split(";")[0]) == (200, "application/javascript")
    rollbacks = []
    for _ in range(ROUNDS):
        before = current_id(guide.root)
        out, steps = guide.run("guide-deploy", APP=str(REPO / "examples" / "nextjs"))
        assert current_id(guide.root) == before  # deployed, then rolled back to it
        assert f"serve: {before} live on 127.0.0.1:" in out, out
        assert json.loads(guide.served("/api/version")[2])["release"] == before
        deploys += [t for cmd, t in steps if cmd.startswith("releases deploy")]
        rollbacks += [t for cmd, t in steps if cmd.startswith("releases rollback")]
    assert len(deploys) == ROUNDS + 1 and len(rollbacks) == ROUNDS
    print(
        f"\nguide setup: deploy {statistics.median(deploys):.2f} s median of {len(deploys)} "
        f"({', '.join(f'{t:.2f}' for t in deploys)}); warm rollback "
        f"{statistics.median(rollbacks):.2f} s median of {len(rollbacks)} "
        f"({', '.join(f'{t:.2f}' for t in rollbacks)})"
    )
