"""Release ids are ASCII: look-alike ids (Unicode digits, a trailing newline) are refused by
every command that takes one, and a stray directory with such a name never breaks a deploy."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

from helpers import Cli, current_id, deploy_ok, tree_state
from hypothesis import example, given
from hypothesis import strategies as st

from releases_cli.core import ids

ASCII_ID = re.compile(r"[0-9]{8}T[0-9]{6}Z(-([2-9]|[1-9][0-9]{1,3}))?", re.ASCII)
# Digits of other scripts that `\d` and int() accept: fullwidth, Arabic-Indic, Devanagari.
OTHER_ZEROS = (0xFF10, 0x0660, 0x0966)


def _lookalike(text: str, zero: int) -> str:
    return "".join(chr(zero + int(c)) if c.isdigit() else c for c in text)


@given(st.text(max_size=24))
@example("20261126T101500Z\n")
@example("\uff12\uff10\uff12\uff16\uff11\uff11\uff12\uff16T\uff11\uff10\uff11\uff15\uff10\uff10Z")
@example("20261126T101500Z-\u0662")
def test_a_valid_id_is_plain_ascii(text: str) -> None:
    """Whatever the text, it is a valid id only if it is the ASCII shape in full (no trailing
    newline, no digit of another script); a valid id survives sort_key and id_time."""
    if ids.is_valid_id(text):
        assert text.isascii() and ASCII_ID.fullmatch(text), repr(text)
        assert ids.sort_key(text)[0] == text.partition("-")[0]
        ids.id_time(text)


@given(
    st.datetimes(min_value=datetime(1000, 1, 1)),
    st.integers(min_value=1, max_value=9999),
    st.sampled_from(OTHER_ZEROS),
)
def test_lookalikes_of_valid_ids_are_refused(moment: datetime, n: int, zero: int) -> None:
    """For every valid id: the same id in another script's digits, with a trailing newline, or
    with a Unicode collision suffix is not an id."""
    stamp = moment.strftime("%Y%m%dT%H%M%SZ")
    valid = stamp if n == 1 else f"{stamp}-{n}"
    assert ids.is_valid_id(valid)
    assert not ids.is_valid_id(_lookalike(valid, zero))
    assert not ids.is_valid_id(valid + "\n")
    assert not ids.is_valid_id(f"{stamp}-{_lookalike(str(max(n, 2)), zero)}")


FULLWIDTH = _lookalike("20991231T000000Z", 0xFF10)
NEWLINE = "20991231T000000Z\n"


def test_every_command_refuses_lookalike_ids(cli: Cli, root: Path, app: Path) -> None:
    """stage --id, rollback --to and switch refuse a fullwidth id and an id with a trailing
    newline: exit 3, one line on stderr, nothing changed."""
    deploy_ok(cli, root, app)
    deploy_ok(cli, root, app)
    before = tree_state(root)
    for bad in (FULLWIDTH, NEWLINE):
        runs = {
            "stage": cli("stage", "--root", str(root), "--source", str(app), "--id", bad),
            "rollback": cli("rollback", "--root", str(root), "--to", bad),
            "switch": cli("switch", bad, "--root", str(root)),
        }
        for command, result in runs.items():
            assert result.returncode == 3, (command, repr(bad), result.stderr)
            assert "malformed release id" in result.stderr, command
            assert result.stderr.count("\n") == 1, (command, result.stderr)
        assert tree_state(root) == before


def test_stray_lookalike_directories_never_break_deploys(cli: Cli, root: Path, app: Path) -> None:
    """Directories named like far-future ids in fullwidth digits or with a trailing newline,
    in releases/ and as meta files: deploys keep working with ordinary ids, list warns about
    the strays, prune with keep=1 leaves them alone, and rollback walks the real releases."""
    first = deploy_ok(cli, root, app)
    for name in (FULLWIDTH, NEWLINE):
        (root / "releases" / name).mkdir()
        (root / "releases" / name / "keep.txt").write_text("stray\n")
        (root / ".releases" / "meta" / f"{name}.json").write_text('{"status": "complete"}')
    second = deploy_ok(cli, root, app, "--keep", "1")
    third = deploy_ok(cli, root, app, "--keep", "1")
    assert not second.startswith("2099") and not third.startswith("2099")
    assert ids.is_valid_id(third) and third != second != first
    listing = cli("list", "--root", str(root), "--json")
    assert listing.returncode == 0, listing.stderr
    assert "entries that are not releases" in listing.stdout
    pruned = cli("prune", "--root", str(root), "--keep", "1")
    assert pruned.returncode == 0, pruned.stderr
    for name in (FULLWIDTH, NEWLINE):
        assert (root / "releases" / name / "keep.txt").read_text() == "stray\n"
    back = cli("rollback", "--root", str(root))
    assert back.returncode == 0, back.stderr
    assert current_id(root) == second
