"""The README a newcomer reads: small, in the promised order, its quick start works when pasted
(run here with the real CLI), and it and docs/ link only to files that exist."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from helpers import REPO, write_launcher

README = REPO / "README.md"
MARKER = "<!-- quick-start: tests/cli/test_readme.py runs this block -->"


def quick_start() -> tuple[int, str]:
    """(line number of the block's first command, the block) after the quick-start marker."""
    lines = README.read_text().splitlines()
    start = lines.index(MARKER) + 1
    assert lines[start] == "```sh", "the marker is right above the ```sh block"
    end = lines.index("```", start + 1)
    return start + 2, "\n".join(lines[start + 1 : end]) + "\n"


def test_readme_is_short_and_in_order() -> None:
    """At most ~12 KB; sections in the order: what it is (with the measured result), quick
    start, install, the two commands, commands, docs; the quick start ends within 60 lines."""
    text = README.read_text()
    assert len(text.encode()) <= 12_500
    headings = re.findall(r"^## (.+)$", text, flags=re.MULTILINE)
    wanted = ["Quick start", "Install", "The two commands", "Commands", "Documentation"]
    assert [h for h in headings if h in wanted] == wanted, headings
    intro = text.split("\n## ", 1)[0]
    assert "make demo" in intro and "0 failed requests" in intro
    first, block = quick_start()
    assert first + len(block.splitlines()) <= 60


def test_quick_start_runs_as_pasted(tmp_path: Path) -> None:
    """The quick-start block, run by bash from the repository root with `set -e` and this
    checkout's `releases` first on PATH: it initialises a root in a temp directory, deploys
    examples/static twice, lists, survives the failing deploy (exit 6 reported), rolls back
    to the first release, which is what `current` serves at the end."""
    _, block = quick_start()
    bin_dir = tmp_path / "bin"
    write_launcher(bin_dir / "releases")
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "RELEASES_ROOT"}
    env.update(
        PATH=f"{bin_dir}:{env['PATH']}", PYTHONPATH=str(REPO), TMPDIR=str(temp), NO_COLOR="1"
    )
    # the block puts $PWD/.venv/bin first: this checkout's venv, or none in a fresh clone
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (shop,) = temp.glob("*/shop")
    releases = sorted(p.name for p in (shop / "releases").iterdir())
    assert len(releases) == 3  # two deployed, one failed
    assert "exit 6: current is unchanged" in result.stdout
    assert "failed: build command 'exit 1' failed with exit code 1" in result.stdout
    assert os.readlink(shop / "current") == f"releases/{releases[0]}"
    assert f"Release: {releases[0]}" in result.stdout
    assert f"rolled back to {releases[0]}" in result.stdout


def _linked_files(page: Path) -> list[str]:
    """Relative targets of the page's markdown links, without anchors."""
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text())
    return [t for t in targets if "://" not in t]


def test_links_point_at_files_in_the_repository() -> None:
    """Every relative link in README.md, docs/*.md and bench/README.md names a file that is
    in the repository; none of them points at the private design notes outside it."""
    pages = [README, REPO / "bench" / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    for page in pages:
        for target in _linked_files(page):
            assert (page.parent / target).exists(), f"{page.name} links to missing {target}"
        text = page.read_text()
        for outside in ("../shared", "DESIGN.md", "NEXTJS-PM2-NOTES"):
            assert outside not in text, f"{page.name} refers to {outside}"


def test_the_docs_the_readme_promises_exist() -> None:
    """README's Documentation section lists the guides, and each of them is in docs/."""
    for name in ("reference", "configuration", "nextjs", "fleet", "design", "reliability"):
        assert f"(docs/{name}.md)" in README.read_text()
        assert (REPO / "docs" / f"{name}.md").is_file()


def test_code_map_names_every_subpackage() -> None:
    """README's code map has one line per subpackage of releases_cli."""
    code_map = README.read_text().split("## Code map", 1)[1]
    packages = [p.name for p in (REPO / "releases_cli").iterdir() if (p / "__init__.py").exists()]
    for package in packages:
        assert f"`releases_cli/{package}/`" in code_map, package
