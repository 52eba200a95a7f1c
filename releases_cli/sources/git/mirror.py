"""The bare mirror in `.releases/repo.git`: create, fetch, resolve, archive.

Every function here runs under the deploy lock, so nothing else uses the mirror meanwhile:
a `*.lock` file found in it was left by a killed git and is removed. The mirror is a cache;
one that cannot be opened is rebuilt from scratch.

A deploy runs `git` itself (Mirror.run: fetch, rev-parse, log, archive): gitpython's import
and its `cat-file` helper processes would cost a good share of a deploy's own CPU
(bench/README.md, "Figures kept out of the code"). gitpython makes and configures a new
mirror (`_create`), which happens once.
"""

from __future__ import annotations

import logging
import os
import secrets
import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from releases_cli.core import safefs
from releases_cli.core.compat import UTC
from releases_cli.core.errors import NotFound, SourceFailed
from releases_cli.core.fs import state_umask, tightened_umask
from releases_cli.core.tree import regular_files
from releases_cli.sources.git.safety import git_env, looks_like_sha, redact
from releases_cli.sources.tarstream import extract_stream

if TYPE_CHECKING:
    import git

log = logging.getLogger(__name__)

REMOTE = "origin"
# Branches and tags only: `+refs/*:refs/*` would also pull every pull-request ref of a forge.
REFSPECS = ("+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*")
# Where the remote's default branch (its HEAD) lands when no ref is asked for.
REMOTE_HEAD = "refs/remotes/origin/HEAD"
_TMP_PREFIX = ".tmp-mirror-"
# The mirror's own git config records the URL it was made for: `releases.mirrorof`.
_KEY_SECTION, _KEY_OPTION = "releases", "mirrorof"


@dataclass(frozen=True)
class Commit:
    sha: str
    ref: str  # what was asked for (or the default branch's name, or "HEAD")
    subject: str
    author: str
    committed_at: str  # ISO 8601, UTC


class GitFailed(Exception):
    """A git command exited non-zero."""

    def __init__(self, status: int, stderr: str) -> None:
        super().__init__(f"git exited {status}: {stderr.strip()}")
        self.status = status
        self.stderr = stderr


@dataclass(frozen=True)
class Mirror:
    """A bare repository, and git run in it with our environment (safety.git_env)."""

    path: Path

    def run(self, *args: str) -> str:
        """git ARGS in the mirror; its stdout without the trailing newline. GitFailed."""
        result = subprocess.run(
            ["git", *args],
            cwd=self.path,
            env={**os.environ, **git_env()},
            stdin=subprocess.DEVNULL,
            umask=state_umask(),  # objects and refs are state: never group-writable
            capture_output=True,
            check=False,
        )
        if result.returncode != 0:
            raise GitFailed(result.returncode, result.stderr.decode(errors="replace"))
        return result.stdout.decode(errors="replace").removesuffix("\n")

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        """git ARGS in the mirror, its stdout a pipe to read (stderr kept for the message)."""
        return subprocess.Popen(
            ["git", *args],
            cwd=self.path,
            env={**os.environ, **git_env()},
            stdin=subprocess.DEVNULL,
            umask=state_umask(),  # objects and refs are state: never group-writable
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )


def git_message(error: GitFailed) -> str:
    """git's own explanation, one line: its last `fatal:`/`error:` line, else its last line."""
    text = error.stderr.strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    fatal = [line for line in lines if line.startswith(("fatal:", "error:"))]
    chosen = fatal[-1] if fatal else (lines[-1] if lines else f"git exited {error.status}")
    return chosen.removeprefix("fatal: ").removeprefix("error: ")


def open_mirror(path: Path, url: str) -> Mirror:
    """The bare mirror of `url` at `path`, created (atomically: init aside, then rename) when
    missing.

    A mirror belongs to one repository: it records the URL it was made for, and one made for
    another URL (or by a version that did not record it) is discarded and made again. So an
    object fetched for `--repo A` can never be deployed as part of `--repo B`.
    """
    for leftover in path.parent.glob(f"{_TMP_PREFIX}*"):
        _discard(leftover)  # an init killed half-way, or a mirror set aside and not yet deleted
    if not _made_for(path, url):
        _create(path, url)
    _remove_stale_locks(path)
    return Mirror(path)


def _is_repository(path: Path) -> bool:
    """A bare repository's shape (what git itself checks): objects/, refs/ and a HEAD file."""
    return (
        not path.is_symlink()
        and all((path / name).is_dir() for name in ("objects", "refs"))
        and (path / "HEAD").is_file()
    )


def _made_for(path: Path, url: str) -> bool:
    """Whether the mirror at `path` is sound and made for `url`; else set it aside."""
    if not os.path.lexists(path):
        return False
    made_for = None
    if _is_repository(path):
        config = ["config", "--file", "config", "--default", "", f"{_KEY_SECTION}.{_KEY_OPTION}"]
        try:
            made_for = Mirror(path).run(*config)
        except (GitFailed, OSError):
            made_for = None
    if made_for == url:
        return True
    if made_for is None:
        log.warning("mirror %s is damaged; rebuilding it", path)
    else:
        was = f"for {redact(made_for)}" if made_for else "before mirrors were keyed by URL"
        log.warning("mirror %s was made %s; making a new one for %s", path, was, redact(url))
    _set_aside(path)
    return False


def _set_aside(path: Path) -> None:
    """Rename out of the way first (atomic), then delete: a crash in between leaves a
    `.tmp-mirror-*` that the next open removes, never a half-deleted mirror in use."""
    aside = path.with_name(f"{_TMP_PREFIX}old-{os.getpid()}-{secrets.token_hex(4)}")
    os.rename(path, aside)
    _discard(aside)


def _discard(path: Path) -> None:
    # Never follows a link planted here; what cannot be deleted stays (a `.tmp-mirror-*` the
    # next open tries again).
    safefs.remove_tree(path.parent, path.name)


def _create(path: Path, url: str) -> None:
    import git  # gitpython: making and configuring a repository, once per mirror

    tmp = path.with_name(f"{_TMP_PREFIX}{os.getpid()}-{secrets.token_hex(4)}")
    with tightened_umask():
        _init(git.Repo.init(tmp, bare=True), url)
    os.rename(tmp, path)


def _init(repo: git.Repo, url: str) -> None:
    with repo.config_writer() as writer:
        # gc in the foreground: a detached one could still run when the next deploy fetches.
        writer.set_value("gc", "autoDetach", "false")
        writer.set_value("maintenance", "autoDetach", "false")
        writer.set_value(f'remote "{REMOTE}"', "url", url)
        writer.set_value(_KEY_SECTION, _KEY_OPTION, url)
    repo.close()


def _remove_stale_locks(path: Path) -> None:
    stale = [*path.glob("*.lock")]
    stale += [path / "refs" / rel for rel in regular_files(path, "refs") if rel.endswith(".lock")]
    for lock_file in stale:
        log.warning("removing %s, left by an interrupted git command", lock_file)
        lock_file.unlink(missing_ok=True)


def fetch(repo: Mirror, url: str, remote_head: bool) -> None:
    """Fetch branches and tags with prune: only objects the mirror lacks are transferred."""
    refspecs = [*REFSPECS, f"+HEAD:{REMOTE_HEAD}"] if remote_head else list(REFSPECS)
    try:
        repo.run("fetch", "--prune", "--quiet", REMOTE, *refspecs)
    except GitFailed as error:
        raise SourceFailed(f"fetching {redact(url)} failed: {git_message(error)}") from None


def resolve(repo: Mirror, url: str, ref: str | None) -> Commit:
    """The commit a deploy of `ref` means (None or "HEAD": the remote's default branch)."""
    if not ref or ref == "HEAD":
        sha = _commit_of(repo, REMOTE_HEAD)
        if sha is None:
            raise NotFound(f"{redact(url)} has no default branch (HEAD); pass --ref")
        return _describe(repo, sha, _branch_at(repo, sha) or "HEAD")
    for candidate in _candidates(ref):
        sha = _commit_of(repo, candidate)
        if sha is not None:
            return _describe(repo, sha, ref)
    if len(ref) == 40 and looks_like_sha(ref) and fetch_sha(repo, ref):
        sha = _commit_of(repo, ref)
        if sha is not None:
            return _describe(repo, sha, ref)
    raise NotFound(f"ref {ref!r} is not a branch, tag or commit of {redact(url)}")


def _candidates(ref: str) -> list[str]:
    """git's precedence: a full sha is a sha; else branch, then tag; else an abbreviated sha."""
    if ref.startswith("refs/"):
        return [ref]
    named = [f"refs/heads/{ref}", f"refs/tags/{ref}"]
    if looks_like_sha(ref):
        return [ref, *named] if len(ref) == 40 else [*named, ref]
    return named


def _commit_of(repo: Mirror, name: str) -> str | None:
    try:
        return repo.run("rev-parse", "--verify", "--quiet", f"{name}^{{commit}}") or None
    except GitFailed:
        return None


def has_commit(repo: Mirror, sha: str) -> bool:
    return _commit_of(repo, sha) is not None


def fetch_sha(repo: Mirror, sha: str) -> bool:
    """A commit no branch or tag points at any more: servers speaking protocol v2 give it."""
    try:
        repo.run("fetch", "--quiet", REMOTE, sha)
    except GitFailed:
        return False
    return True


def _branch_at(repo: Mirror, sha: str) -> str | None:
    names = repo.run(
        "for-each-ref", "--points-at", sha, "--format=%(refname:short)", "refs/heads"
    ).split()
    return names[0] if len(names) == 1 else None


def _describe(repo: Mirror, sha: str, ref: str) -> Commit:
    """Subject (the message's first line), author and commit time (UTC) of commit `sha`."""
    fields = repo.run("log", "-1", "--no-show-signature", "--format=%an%x00%ae%x00%ct%x00%B", sha)
    name, email, stamp, message = fields.split("\0", 3)
    when = datetime.fromtimestamp(int(stamp), UTC)
    return Commit(
        sha=sha,
        ref=ref,
        subject=message.split("\n", 1)[0],
        author=f"{name} <{email}>",
        committed_at=when.isoformat().replace("+00:00", "Z"),
    )


def archive_into(repo: Mirror, sha: str, dest: Path) -> int:
    """`git archive` of the commit (export-ignore honoured) streamed into `dest`."""
    process = repo.start("archive", "--format=tar", sha)
    assert process.stdout is not None and process.stderr is not None  # both PIPE
    try:
        files = extract_stream(process.stdout, dest)
    except BaseException:
        process.kill()  # stop git writing into a pipe nobody reads
        process.wait()
        raise
    finally:
        process.stdout.close()
    stderr = process.stderr.read().decode(errors="replace")
    process.stderr.close()
    if process.wait() != 0:
        failure = GitFailed(process.returncode, stderr)
        raise SourceFailed(f"git archive {sha[:12]} failed: {git_message(failure)}") from None
    return files


def commits_between(path: Path, old: str, new: str, limit: int = 50) -> tuple[list[str], list[str]]:
    """(commits in `new` not in `old`, commits in `old` not in `new`), each `<short sha>
    <subject>`, newest first, at most `limit` each; read from the mirror at `path` without
    changing it. SourceFailed when the mirror or a commit is missing."""
    for sha in (old, new):
        if not looks_like_sha(sha):
            raise SourceFailed(f"{sha!r:.50} is not a commit id")
    if not _is_repository(path):
        raise SourceFailed(f"no git mirror at {path}")
    try:
        logs = [
            Mirror(path).run("log", "--format=%h %s", f"--max-count={limit}", f"{a}..{b}", "--")
            for a, b in ((old, new), (new, old))
        ]
    except GitFailed as error:
        raise SourceFailed(git_message(error)) from None
    return logs[0].splitlines(), logs[1].splitlines()
