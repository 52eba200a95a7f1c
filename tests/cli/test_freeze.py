"""`releases freeze` / `unfreeze`: deploy, stage and switch are refused while frozen (exit 5,
nothing changed), rollback is not, `--override-freeze` (not `--force`) overrides and is
recorded; the freeze is state that status shows and that survives damage as a freeze."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import Cli, current_id, deploy_ok, history_of, tree_state
from jsonshapes import problems

from releases_cli.cli.render import StatusJson


def _frozen_root(cli: Cli, root: Path, app: Path, message: str = "release party") -> list[str]:
    ids = [deploy_ok(cli, root, app) for _ in range(2)]
    result = cli("freeze", "--root", str(root), "-m", message)
    assert result.returncode == 0, result.stderr
    return ids


@pytest.mark.parametrize("command", ["deploy", "stage", "switch"])
def test_frozen_root_refuses_changes_with_the_message_and_changes_nothing(
    cli: Cli, root: Path, app: Path, command: str
) -> None:
    """While frozen, deploy, stage and switch exit 5 with one line naming the freeze's message
    and who froze, and leave every file of the root as it was."""
    first, _live = _frozen_root(cli, root, app, "release party, back at 3pm")
    before = tree_state(root)
    args = {
        "deploy": ["deploy", "--source", str(app)],
        "stage": ["stage", "--source", str(app)],
        "switch": ["switch", first],
    }[command]
    refused = cli(*args, "--root", str(root))
    assert refused.returncode == 5, refused.stderr
    (line,) = refused.stderr.splitlines()
    assert line.startswith("releases: error: deploys are frozen: 'release party, back at 3pm'")
    assert f"{command} refused" in line and "--override-freeze" in line and "frozen by " in line
    assert tree_state(root) == before


def test_rollback_works_while_frozen(cli: Cli, root: Path, app: Path) -> None:
    """Rollback is the emergency path: a freeze never blocks it."""
    first, _live = _frozen_root(cli, root, app)
    result = cli("rollback", "--root", str(root))
    assert result.returncode == 0, result.stderr
    assert current_id(root) == first


def test_override_freeze_deploys_and_the_override_is_recorded(
    cli: Cli, root: Path, app: Path
) -> None:
    """`deploy --override-freeze -m WHY` while frozen deploys, and the history records the
    override (the command, the freeze's note, the override's message) before the deploy; the
    freeze stays."""
    _frozen_root(cli, root, app, "party")
    override = ("--override-freeze", "-m", "hotfix")
    result = cli("deploy", "--root", str(root), "--source", str(app), *override)
    assert result.returncode == 0, result.stderr
    names = [e["event"] for e in history_of(root)]
    overridden = next(e for e in history_of(root) if e["event"] == "freeze_overridden")
    assert overridden["command"] == "deploy" and overridden["freeze_message"] == "party"
    assert overridden["message"] == "hotfix"
    assert names.index("freeze_overridden") < names.index("deploy_started", names.index("freeze"))
    history = cli("history", "--root", str(root), "--json")
    kinds = [e["kind"] for e in json.loads(history.stdout)["events"]]
    assert kinds[:2] == ["deploy", "forced"]
    assert cli("deploy", "--root", str(root), "--source", str(app)).returncode == 5


def test_force_alone_does_not_override_the_freeze(cli: Cli, root: Path, app: Path) -> None:
    """`deploy --force` (redeploy even if unchanged), as automation often runs it, is still
    refused while frozen (exit 5, nothing changed, no override recorded): only
    --override-freeze overrides."""
    _frozen_root(cli, root, app, "party")
    before = tree_state(root)
    refused = cli("deploy", "--root", str(root), "--source", str(app), "--force")
    assert refused.returncode == 5, refused.stderr
    assert "--override-freeze overrides it" in refused.stderr
    assert tree_state(root) == before


def test_status_shows_the_freeze_and_unfreeze_lifts_it(cli: Cli, root: Path, app: Path) -> None:
    """status prints the freeze (text and --json `frozen`); after unfreeze it is gone, deploys
    work again, and a second unfreeze is a no-op."""
    _frozen_root(cli, root, app, "party")
    text = cli("status", "--root", str(root)).stdout
    assert "frozen: 'party' (frozen by " in text
    document = json.loads(cli("status", "--root", str(root), "--json").stdout)
    assert problems(document, StatusJson) == []
    assert document["frozen"]["message"] == "party" and document["frozen"]["since"]
    lifted = cli("unfreeze", "--root", str(root))
    assert lifted.returncode == 0 and "unfrozen (was 'party'" in lifted.stdout
    assert json.loads(cli("status", "--root", str(root), "--json").stdout)["frozen"] is None
    assert cli("deploy", "--root", str(root), "--source", str(app)).returncode == 0
    again = cli("unfreeze", "--root", str(root))
    assert again.returncode == 0 and "not frozen" in again.stdout
    assert [e["event"] for e in history_of(root)].count("unfreeze") == 1


@pytest.mark.parametrize("content", [b"not json", b'{"message": 3}', b"x" * (70 << 10)])
def test_a_damaged_freeze_file_still_counts_as_a_freeze(
    cli: Cli, root: Path, app: Path, content: bytes
) -> None:
    """A freeze file that cannot be read (not JSON, wrong type, too large) keeps deploys
    refused, with a warning naming it; unfreeze removes it."""
    deploy_ok(cli, root, app)
    (root / ".releases" / "freeze.json").write_bytes(content)
    refused = cli("deploy", "--root", str(root), "--source", str(app))
    assert refused.returncode == 5
    assert "freeze.json" in refused.stderr and "Traceback" not in refused.stderr
    assert cli("unfreeze", "--root", str(root)).returncode == 0
    assert cli("deploy", "--root", str(root), "--source", str(app)).returncode == 0


def test_a_planted_freeze_link_is_never_followed(
    cli: Cli, root: Path, app: Path, outside: Path
) -> None:
    """A symlink planted at .releases/freeze.json is refused like any planted layout entry
    (exit 7, naming it) and its target is neither read into a message nor written."""
    deploy_ok(cli, root, app)
    target = outside / "precious.txt"
    (root / ".releases" / "freeze.json").symlink_to(target)
    for args in (["freeze", "-m", "x"], ["deploy", "--source", str(app)], ["unfreeze"]):
        result = cli(*args, "--root", str(root))
        assert result.returncode == 7, result.stderr
        assert "freeze.json is a symlink" in result.stderr
    assert target.read_text() == "do not delete\n"


def test_freeze_needs_a_message(cli: Cli, root: Path, app: Path) -> None:
    """`freeze` without -m is a usage error (exit 2), with a blank one invalid (exit 3); both
    leave the root unfrozen."""
    deploy_ok(cli, root, app)
    assert cli("freeze", "--root", str(root)).returncode == 2
    assert cli("freeze", "--root", str(root), "-m", "  ").returncode == 3
    assert not (root / ".releases" / "freeze.json").exists()
