"""The go-live never leaves an unverified release live: whatever goes wrong after the switch
(not only a failing command or an unhealthy answer) switches back and marks the release failed."""

from __future__ import annotations

from pathlib import Path

from helpers import Cli, current_id, deploy_ok, meta_of


def test_a_restart_that_cannot_even_start_is_a_health_failure(
    cli: Cli, root: Path, app: Path
) -> None:
    """The restart step raises instead of returning an exit code (its log path was replaced by
    a directory by a before_switch hook, so opening the log fails with EISDIR): exit 9, one
    line naming the OS error, `current` back on the previous release (whose own restart runs
    fine), the new release marked failed, and no traceback."""
    first = deploy_ok(cli, root, app, "--restart", "true")
    (root / "releases.toml").write_text(
        '[hooks]\nbefore_switch = [\'log="$DEPLOY_ROOT/.releases/logs/$RELEASE_ID.log"; '
        'rm "$log" && mkdir "$log"\']\n'
    )
    result = cli("deploy", "--root", str(root), "--source", str(app), "--restart", "true")
    assert result.returncode == 9, result.stderr
    assert "Traceback" not in result.stderr
    (error,) = [line for line in result.stderr.splitlines() if line.startswith("releases: error")]
    assert "restart/health check failed: Is a directory" in error
    assert f"switched back to {first}, which is serving again" in error
    assert current_id(root) == first
    (new,) = {p.name for p in (root / "releases").iterdir()} - {first}
    assert meta_of(root, new)["status"] == "failed"
