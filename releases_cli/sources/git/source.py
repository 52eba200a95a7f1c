"""Deploy from a git repository through the cached bare mirror `.releases/repo.git`.

The three steps of a deploy's source, and when they run:
- `check` (before the lock): the URL and ref are safe to hand to git (gitsafety.py). No I/O.
- `prepare` (under the lock, before a release directory exists): fetch with prune (only new
  objects travel), resolve the ref to a commit, fetch the submodules it needs. So a ref that
  does not exist, or a repository that cannot be reached, fails with nothing created.
- `export` (into the new release): `git archive` of the commit streamed into the directory (no
  `.git`; export-ignore honoured), then each submodule the same way, then `REVISION`.

This module is imported only when a git source is used.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from releases_cli.core import safefs
from releases_cli.core.errors import SourceFailed
from releases_cli.core.layout import DeployRoot
from releases_cli.core.meta import SourceInfo, SubmoduleInfo
from releases_cli.core.report import Report, Stage, stage
from releases_cli.sources.git.mirror import (
    Commit,
    GitFailed,
    Mirror,
    archive_into,
    fetch,
    fetch_sha,
    has_commit,
    open_mirror,
    resolve,
)
from releases_cli.sources.git.safety import absolute_url, check_ref, check_url, is_scp_like, redact

MIRROR_NAME = "repo.git"  # in the deploy root's state directory, .releases/
MODULES_DIR = "modules"  # submodule mirrors, inside the main mirror (where git keeps them too)
MAX_SUBMODULE_DEPTH = 8
REVISION_FILE = "REVISION"


def mirror_path(root: DeployRoot) -> Path:
    return root.state / MIRROR_NAME


@dataclass(frozen=True)
class Submodule:
    path: str  # relative to the release
    url: str
    sha: str
    mirror: Mirror


@dataclass(frozen=True)
class _Plan:
    mirror: Mirror
    commit: Commit
    submodules: tuple[Submodule, ...]


@dataclass
class GitSource:
    """A repository URL (or local path) and the ref to deploy (default: the remote's HEAD)."""

    url: str
    ref: str | None = None
    submodules: bool = False
    _plan: _Plan | None = field(default=None, init=False, repr=False, compare=False)

    def describe(self) -> SourceInfo:
        info: SourceInfo = {
            "type": "git",
            "repo": redact(self.location),
            "ref": self.ref or None,
        }
        if self._plan is not None:
            info["revision"] = self._plan.commit.sha
        return info

    @property
    def location(self) -> str:
        """The URL git is given (a relative local path made absolute)."""
        return absolute_url(self.url)

    def check(self, deploy_root: Path) -> None:
        check_url(self.url)
        if self.ref:
            check_ref(self.ref)

    def prepare(self, root: DeployRoot, report: Report) -> str:
        """Fetch and resolve once; return the commit sha to deploy."""
        if self._plan is None:
            self.check(root.path)
            url = self.location
            with stage(report, Stage.FETCH, f"{redact(url)} into {mirror_path(root)}") as fetching:
                mirror = open_mirror(mirror_path(root), url)
                fetch(mirror, url, remote_head=not self.ref or self.ref == "HEAD")
                commit = resolve(mirror, url, self.ref)
                subs: list[Submodule] = []
                if self.submodules:
                    modules = mirror_path(root) / MODULES_DIR
                    subs = plan_submodules(modules, mirror, url, commit.sha, "", 0, {})
                fetching.detail = f"{commit.ref} is {commit.sha[:12]} {commit.subject!r}"
            self._plan = _Plan(mirror, commit, tuple(subs))
        return self._plan.commit.sha

    def fixed_id(self) -> None:
        return None

    def export(self, dest: Path) -> SourceInfo:
        plan = self._plan
        if plan is None:
            raise SourceFailed("internal error: git source exported before it was prepared")
        archive_into(plan.mirror, plan.commit.sha, dest)
        exported: list[SubmoduleInfo] = []
        for sub in plan.submodules:
            # absent when export-ignore left the submodule out; never reached through a link
            if safefs.is_real_dir(dest, sub.path):
                archive_into(sub.mirror, sub.sha, dest / sub.path)
                exported.append({"path": sub.path, "revision": sub.sha, "repo": redact(sub.url)})
        _write_revision(dest, plan.commit.sha)
        info: SourceInfo = {
            "revision": plan.commit.sha,
            "ref": plan.commit.ref,
            "subject": plan.commit.subject,
            "author": plan.commit.author,
            "committed_at": plan.commit.committed_at,
        }
        if exported:
            info["submodules"] = exported
        return info


def _write_revision(dest: Path, sha: str) -> None:
    """REVISION (the full sha), as Capistrano writes it. Whatever the repository has of that
    name is replaced (a directory included); a symlink there is never followed."""
    with safefs.dir_at(dest) as release:
        safefs.remove_entry(release, REVISION_FILE)
        safefs.write_new(release, REVISION_FILE, (sha + "\n").encode())


def plan_submodules(
    modules: Path,
    repo: Mirror,
    url: str,
    sha: str,
    prefix: str,
    depth: int,
    mirrors: dict[str, Mirror],
) -> list[Submodule]:
    """Every submodule (recursively) of commit `sha`, its commit fetched into its own mirror."""
    if depth >= MAX_SUBMODULE_DEPTH:
        raise SourceFailed(f"submodules nested more than {MAX_SUBMODULE_DEPTH} deep at {prefix!r}")
    links = _gitlinks(repo, sha)
    if not links:
        return []
    urls = _gitmodules_urls(repo, sha)
    found: list[Submodule] = []
    for path, sub_sha in links.items():
        where = prefix + path
        raw = urls.get(path)
        if raw is None:
            raise SourceFailed(f"submodule {where!r} has no url in .gitmodules")
        sub_url = check_url(join_url(url, raw) if raw.startswith(("./", "../")) else raw)
        mirror = mirrors.get(sub_url)
        if mirror is None:
            modules.mkdir(exist_ok=True)
            mirror = open_mirror(modules / _mirror_name(sub_url), sub_url)
            fetch(mirror, sub_url, remote_head=False)
            mirrors[sub_url] = mirror
        if not has_commit(mirror, sub_sha) and not (
            fetch_sha(mirror, sub_sha) and has_commit(mirror, sub_sha)
        ):
            raise SourceFailed(
                f"submodule {where!r}: commit {sub_sha[:12]} is not in {redact(sub_url)}"
            )
        found.append(Submodule(where, sub_url, sub_sha, mirror))
        found += plan_submodules(modules, mirror, sub_url, sub_sha, where + "/", depth + 1, mirrors)
    return found


def _gitlinks(repo: Mirror, sha: str) -> dict[str, str]:
    """path -> commit of every submodule entry (mode 160000) in the commit's tree."""
    listing = repo.run("ls-tree", "-r", "-z", sha)
    links = {}
    for entry in listing.split("\0"):
        info, _, path = entry.partition("\t")
        fields = info.split()
        if len(fields) == 3 and fields[0] == "160000":
            links[path] = fields[2]
    return links


def _gitmodules_urls(repo: Mirror, sha: str) -> dict[str, str]:
    """path -> url from the commit's .gitmodules."""
    try:
        listing = repo.run("config", "--blob", f"{sha}:.gitmodules", "--list", "-z")
    except GitFailed:
        return {}
    values: dict[str, dict[str, str]] = {}
    for item in listing.split("\0"):
        key, _, value = item.partition("\n")
        if not key.startswith("submodule."):
            continue
        name, _, attribute = key.removeprefix("submodule.").rpartition(".")
        values.setdefault(name, {})[attribute] = value
    return {v["path"]: v["url"] for v in values.values() if "path" in v and "url" in v}


def join_url(base: str, relative: str) -> str:
    """A .gitmodules URL like `../lib.git`, resolved against the superproject's URL (each `../`
    drops one path component; scp-like `host:path` and `scheme://host/` are never climbed)."""
    base = base.rstrip("/")
    rest = relative
    while rest.startswith(("./", "../")):
        if rest.startswith("./"):
            rest = rest[2:]
            continue
        rest = rest[3:]
        floor = base.find("://") + 3 if "://" in base else 0
        slash = base.rfind("/")
        colon = base.rfind(":") if is_scp_like(base) else -1
        if colon > slash and colon < len(base) - 1:
            base = base[: colon + 1]
        elif slash >= floor and not base.endswith(":"):
            base = base[:slash]
        else:
            raise SourceFailed(f"submodule url {relative!r} climbs above {redact(base)!r}")
    return f"{base}{rest}" if base.endswith(":") else f"{base}/{rest}"


def _mirror_name(url: str) -> str:
    """A directory name per submodule URL: readable, and unique by hash."""
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", url.rstrip("/").rsplit("/", 1)[-1])[:40] or "module"
    return f"{stem}-{hashlib.sha256(url.encode()).hexdigest()[:12]}"
