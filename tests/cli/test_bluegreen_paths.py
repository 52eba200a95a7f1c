"""Blue-green on real servers' paths and configs, with a real nginx (own prefix) and PM2: a deploy
root whose path holds spaces, quotes, braces, `;`, `#` and `$`; a main nginx config that is not
UTF-8; a relative `serve.include` while the command runs from another directory; paths nginx
cannot name refused before anything starts."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from bgstack import NGINX, Stack, ensure_pm2, get, write_app
from helpers import Cli, current_id, free_port

ODD = "my shop \"q\" 'a' $HOME {x};#y\\z"


class RelativeIncludeStack(Stack):
    """A stack whose releases.toml names the include relative to the deploy root."""

    @property
    def include(self) -> Path:
        return self.root / "conf" / "app.conf"


def printed_block(cli: Cli, root: Path, cwd: Path, port: int) -> str:
    """`releases nginx`'s server block, listening on `port`, without its include line (the
    test's main config has one)."""
    result = cli("nginx", "--root", str(root), cwd=cwd)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if not line.startswith("include ")]
    return "\n".join(lines).replace("listen 80;", f"listen 127.0.0.1:{port};")


def nginx_test(stack: Stack) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*stack.nginx_words(), "-t", "-c", str(stack.main_conf)],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip


@pytest.mark.parametrize("name", ["with space", 'quote"d', "it's", "dollar$x", "br{ace};#", "b\\s"])
def test_the_printed_server_block_passes_nginx_t_for_any_root_path(
    cli: Cli, tmp_path: Path, name: str
) -> None:
    """What `releases nginx` prints, pasted into a main config as its doc says, passes the
    real `nginx -t` whatever the deploy root's directory is called."""
    stack = Stack(tmp_path, tmp_path / name, tmp_path / "src", Path("pm2"), free_port())
    stack.root.mkdir()
    assert cli("init", "--root", str(stack.root)).returncode == 0
    stack.config()
    (tmp_path / "nginx").mkdir()
    stack.write_main_conf(printed_block(cli, stack.root, tmp_path, free_port()))
    tested = nginx_test(stack)
    assert tested.returncode == 0, tested.stderr


def test_blue_green_in_an_odd_root_with_a_latin1_config_and_a_relative_include(
    cli: Cli, tmp_path: Path
) -> None:
    """Deploys go live through nginx from a root named with quotes, `$` and `;`, whose main
    config holds Latin-1 bytes (nginx reads bytes) and whose `serve.include` is relative: it
    lands under the root although the commands run from another directory (a cron job's cwd),
    and the static files are served from the root's path by the printed block's alias."""
    if shutil.which("node") is None or not Path(NGINX).exists():
        pytest.fail("blue-green tests need Node.js (for PM2) and nginx installed")
    stack = RelativeIncludeStack(
        tmp_path, tmp_path / ODD, tmp_path / "src", ensure_pm2(), free_port()
    )
    elsewhere = tmp_path / "cron-cwd"
    elsewhere.mkdir()
    stack.root.mkdir()
    write_app(stack.source)
    assert cli("init", "--root", str(stack.root)).returncode == 0
    stack.config(extra='include = "conf/app.conf"\n')
    (tmp_path / "nginx").mkdir()
    static_port = free_port()
    block = printed_block(cli, stack.root, elsewhere, static_port)
    assert stack.include.is_file() and not (elsewhere / "conf").exists()
    try:
        stack.start_nginx(block)
        stack.main_conf.write_bytes(stack.main_conf.read_bytes() + b"# caf\xe9 \xff\xfe\n")
        for _ in range(2):
            result = cli(
                "deploy", "--root", str(stack.root), "--source", str(stack.source),
                cwd=elsewhere, env=stack.env(),
            )  # fmt: skip
            assert result.returncode == 0, result.stderr
            assert stack.served() == current_id(stack.root)
        static = stack.root / "current" / ".next" / "static"  # what a Next.js build writes
        static.mkdir(parents=True)
        (static / "chunk.js").write_text("chunk\n")
        assert get(static_port, "/_next/static/chunk.js")[2] == "chunk\n"
        doctor = cli("doctor", "--root", str(stack.root), cwd=elsewhere, env=stack.env())
        assert doctor.returncode == 0, doctor.stdout
    finally:
        stack.stop()


@pytest.mark.parametrize("name", ["star*", "new\nline"])
def test_a_root_nginx_cannot_name_is_refused_before_anything_starts(
    cli: Cli, tmp_path: Path, app: Path, name: str
) -> None:
    """A glob or control character in the include's path (under the deploy root by default):
    `releases nginx` and `deploy` fail with one line, exit 3, and no release is made."""
    stack = Stack(tmp_path, tmp_path / name, app, Path("pm2"), free_port())
    stack.root.mkdir()
    assert cli("init", "--root", str(stack.root)).returncode == 0
    stack.config()
    printed = cli("nginx", "--root", str(stack.root))
    assert printed.returncode == 3 and printed.stdout == ""
    assert len(printed.stderr.splitlines()) == 1 and "nginx cannot" in printed.stderr
    deployed = cli("deploy", "--root", str(stack.root), "--source", str(app))
    assert deployed.returncode == 3, deployed.stderr
    assert len(deployed.stderr.splitlines()) == 1 and "nginx cannot" in deployed.stderr
    assert os.listdir(stack.root / "releases") == []
    assert not (stack.root / "current").exists()
