"""`--json` outputs keep their documented, versioned shapes (the TypedDicts in cli/render.py and
cli/timeline.py, docs/reference.md "JSON output")."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TypedDict

from helpers import REPO, Cli, deploy_ok
from jsonshapes import SHAPES, keys, problems

from releases_cli.cli.render import JSON_VERSION as VERSION
from releases_cli.cli.render import DoctorJson as DOCTOR
from releases_cli.cli.render import ListJson as LIST
from releases_cli.cli.render import StatusJson as STATUS
from releases_cli.cli.render import SwitchJson as SWITCH


def test_list_json_matches_its_shape_for_every_status(cli: Cli, root: Path, app: Path) -> None:
    """list --json with current, previous, complete and failed releases conforms to LIST."""
    for _ in range(3):
        deploy_ok(cli, root, app)
    failed = cli("deploy", "--root", str(root), "--source", str(app), "--build", "exit 1")
    assert failed.returncode == 6
    result = cli("list", "--root", str(root), "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert problems(document, LIST) == []
    assert document["version"] == VERSION
    statuses = {r["status"] for r in document["releases"]}
    assert statuses == {"current", "previous", "complete", "failed"}


def test_status_json_matches_its_shape_live_and_not_live(cli: Cli, root: Path, app: Path) -> None:
    """status --json conforms to STATUS both before the first deploy (current null, exit 4)
    and after it (the live release described like a list entry)."""
    assert cli("init", "--root", str(root)).returncode == 0
    before = cli("status", "--root", str(root), "--json")
    assert before.returncode == 4
    document = json.loads(before.stdout)
    assert problems(document, STATUS) == []
    assert document["current"] is None and document["release"] is None

    live = deploy_ok(cli, root, app)
    after = cli("status", "--root", str(root), "--json")
    assert after.returncode == 0, after.stderr
    document = json.loads(after.stdout)
    assert problems(document, STATUS) == []
    assert document["current"] == live and document["release"]["status"] == "current"


def test_doctor_json_matches_its_shape_healthy_and_not(cli: Cli, root: Path, app: Path) -> None:
    """doctor --json conforms to DOCTOR on a healthy root and on one with a problem (a leftover
    temp link), where it also exits 10 and says what to fix."""
    deploy_ok(cli, root, app)
    healthy = cli("doctor", "--root", str(root), "--json")
    document = json.loads(healthy.stdout)
    assert problems(document, DOCTOR) == []
    (root / ".current.tmp-1-abc").symlink_to("releases")
    sick = cli("doctor", "--root", str(root), "--json")
    assert sick.returncode == 10
    document = json.loads(sick.stdout)
    assert problems(document, DOCTOR) == []
    assert document["ok"] is False
    assert any(not f["ok"] and f["fix"] for f in document["findings"])


def test_status_text_tells_what_is_live(cli: Cli, root: Path, app: Path) -> None:
    """Without --json: id, path, source, who deployed when, and the rollback target."""
    first = deploy_ok(cli, root, app)
    second = deploy_ok(cli, root, app)
    text = cli("status", "--root", str(root)).stdout
    assert text.startswith(f"current: {second}\npath: {root}/releases/{second}\n")
    assert f"rollback target: {first}" in text and "deployed: " in text


class _Item(TypedDict):
    id: str
    size: int | None


class _Shape(TypedDict):
    version: int
    items: list[_Item]


def test_validator_reports_what_departs_from_a_shape() -> None:
    """The validator is strict: missing and undocumented keys, wrong types (a boolean is not an
    integer) and bad array items are each reported with their path."""
    shape = _Shape
    assert problems({"version": 1, "items": [{"id": "a", "size": None}]}, shape) == []
    found = problems({"version": True, "items": [{"id": 3}], "extra": 1}, shape)
    assert "$.version: expected integer, got True" in found
    assert "$: undocumented key 'extra'" in found
    assert "$.items[0]: missing key 'size'" in found
    assert any(p.startswith("$.items[0].id:") for p in found)


def test_readme_documents_every_key_of_every_shape() -> None:
    """Each shape has a section in docs/reference.md, and every key of it is named there."""
    reference = (REPO / "docs" / "reference.md").read_text()
    section = reference.split("## JSON output", 1)[1].split("\n## ", 1)[0]
    for name, shape in SHAPES.items():
        assert re.search(rf"`releases {name} --json`", section), name
        for key in keys(shape):
            assert f"`{key}`" in section, f"docs/reference.md does not document {name}.{key}"


def test_switch_json_and_stage_keep_stdout_for_scripts(cli: Cli, root: Path, app: Path) -> None:
    """`stage` prints only the id on stdout (progress and its summary line on stderr);
    `switch --json` prints one SWITCH document on stdout, its progress on stderr."""
    deploy_ok(cli, root, app)
    staged = cli("stage", "--root", str(root), "--source", str(app), "--build", "echo built")
    assert staged.returncode == 0, staged.stderr
    (release_id,) = staged.stdout.split()
    assert "built" in staged.stderr and "build: ok in" in staged.stderr
    assert staged.stderr.strip().splitlines()[-1].startswith(f"staged {release_id} in ")
    switched = cli("switch", release_id, "--root", str(root), "--json")
    assert switched.returncode == 0, switched.stderr
    document = json.loads(switched.stdout)
    assert problems(document, SWITCH) == []
    assert document["id"] == release_id and "switch: ok in" in switched.stderr
