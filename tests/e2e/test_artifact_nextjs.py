"""A real Next.js build packed in one directory runs from a release elsewhere: `releases pack`
of examples/nextjs (npm ci + next build), the build directory deleted, `deploy --artifact` into
another root, `next start` from `current`: the page, the API route and every chunk the page
references answer 200 (docs/artifacts.md "The build directory"). Slow: marked e2e."""

from __future__ import annotations

import json
import re
import shutil
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from helpers import REPO, Cli, current_id, free_port
from nextapp import ENV, next_start

pytestmark = pytest.mark.e2e

EXAMPLE = REPO / "examples" / "nextjs"
BUILD = (
    "npm ci --prefer-offline --no-audit --no-fund --loglevel=error",
    "node node_modules/next/dist/bin/next build",
)


def _status(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # loopback only
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, ""


def test_a_build_made_elsewhere_serves_from_its_release(cli: Cli, tmp_path: Path) -> None:
    """Pages, the API route and the page's chunks are 200 from `releases/<id>/` of another root
    after the build directory is gone; the deployment id baked in is the release id."""
    if shutil.which("npm") is None:
        pytest.fail("this e2e test needs Node.js and npm")
    work, server, artifact = tmp_path / "build-host", tmp_path / "server", tmp_path / "a.art"
    work.mkdir()
    server.mkdir()
    build = [f"--build={command}" for command in BUILD]
    packed = cli("pack", "--work", str(work), "--source", str(EXAMPLE), *build, "-o", str(artifact),
                 env=ENV, timeout=900)  # fmt: skip
    assert packed.returncode == 0, packed.stderr
    shutil.rmtree(work)  # nothing may depend on the build directory
    deployed = cli("deploy", "--root", str(server), "--artifact", str(artifact), env=ENV)
    assert deployed.returncode == 0, deployed.stderr
    release_id = current_id(server)
    listed = json.loads(cli("list", "--root", str(server), "--json").stdout)["releases"][0]
    assert listed["artifact"]["digest"] == packed.stdout.split()[1]

    port = free_port()
    with next_start(server / "current", port, ready="/"):
        base = f"http://127.0.0.1:{port}"
        status, page = _status(base + "/")
        assert status == 200
        assert _status(base + "/api/version")[0] == 200
        chunks = sorted(set(re.findall(r'/_next/static/[^"\\\s]+?\.(?:js|css)[^"\\\s]*', page)))
        assert chunks, page[:500]
        assert all(f"dpl={release_id}" in chunk for chunk in chunks if "?" in chunk)
        for chunk in chunks:
            assert _status(base + chunk)[0] == 200, chunk
