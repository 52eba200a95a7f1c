"""The bare mirror in `.releases/repo.git` (gitpython): create, fetch, resolve, archive.

Every function here runs under the deploy lock, so nothing else uses the mirror meanwhile:
a `*.lock` file found in it was left by a killed git and is removed. The mirror is a cache;
one that cannot be opened is rebuilt from scratch.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path

import git

from releases_cli.core.errors import NotFound, SourceFailed
from releases_cli.sources.git.safety import git_env, looks_like_sha, redact
from releases_cli.sources.tarstream import extract_stream

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


def git_message(error: git.GitCommandError) -> str:
    """git's own explanation, one line: its last `fatal:`/`error:` line, else its last line."""
    text = str(error.stderr).strip()
    prefix = "stderr: '"
    if text.startswith(prefix):
        text = text[len(prefix) :].removesuffix("'")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    fatal = [line for line in lines if line.startswith(("fatal:", "error:"))]
    chosen = fatal[-1] if fatal else (lines[-1] if lines else f"git exited {error.status}")
    return chosen.removeprefix("fatal: ").removeprefix("error: ")


def open_mirror(path: Path, url: str) -> git.Repo:
    """The bare mirror of `url` at `path`, created (atomically: init aside, then rename) when
    missing.

    A mirror belongs to one repository: it records the URL it was made for, and one made for
    another URL (or by a version that did not record it) is discarded and made again. So an
    object fetched for `--repo A` can never be deployed as part of `--repo B`.
    """
    for leftover in path.parent.glob(f"{_TMP_PREFIX}*"):
        _discard(leftover)  # an init killed half-way, or a mirror set aside and not yet deleted
    repo = _existing(path, url)
    if repo is None:
        _create(path, url)
        repo = git.Repo(path)
    repo.git.update_environment(**git_env())
    _remove_stale_locks(path)
    return repo


def _existing(path: Path, url: str) -> git.Repo | None:
    """The mirror at `path` when it is sound and made for `url`; else set it aside (None)."""
    if not os.path.lexists(path):
        return None
    repo: git.Repo | None = None
    made_for = None
    try:
        if not path.is_symlink() and (path / "HEAD").is_file():
            repo = git.Repo(path)
            with repo.config_reader() as reader:
                made_for = str(reader.get_value(_KEY_SECTION, _KEY_OPTION, default=""))
    except (git.InvalidGitRepositoryError, git.NoSuchPathError, ValueError, OSError):
        made_for = None
    if repo is not None and made_for == url:
        return repo
    if repo is not None:
        repo.close()
    if made_for is None:
        log.warning("mirror %s is damaged; rebuilding it", path)
    else:
        was = f"for {redact(made_for)}" if made_for else "before mirrors were keyed by URL"
        log.warning("mirror %s was made %s; making a new one for %s", path, was, redact(url))
    _set_aside(path)
    return None


def _set_aside(path: Path) -> None:
    """Rename out of the way first (atomic), then delete: a crash in between leaves a
    `.tmp-mirror-*` that the next open removes, never a half-deleted mirror in use."""
    aside = path.with_name(f"{_TMP_PREFIX}old-{os.getpid()}-{secrets.token_hex(4)}")
    os.rename(path, aside)
    _discard(aside)


def _discard(path: Path) -> None:
    if path.is_symlink() or not path.is_dir():
        path.unlink(missing_ok=True)  # never follow a link planted here
    else:
        shutil.rmtree(path, ignore_errors=True)


def _create(path: Path, url: str) -> None:
    tmp = path.with_name(f"{_TMP_PREFIX}{os.getpid()}-{secrets.token_hex(4)}")
    repo = git.Repo.init(tmp, bare=True)
    with repo.config_writer() as writer:
        # gc in the foreground: a detached one could still run when the next deploy fetches.
        writer.set_value("gc", "autoDetach", "false")
        writer.set_value("maintenance", "autoDetach", "false")
        writer.set_value(f'remote "{REMOTE}"', "url", url)
        writer.set_value(_KEY_SECTION, _KEY_OPTION, url)
    repo.close()
    os.rename(tmp, path)


def _remove_stale_locks(path: Path) -> None:
    stale = [*path.glob("*.lock"), *(path / "refs").rglob("*.lock")]
    for lock_file in stale:
        log.warning("removing %s, left by an interrupted git command", lock_file)
        lock_file.unlink(missing_ok=True)


def fetch(repo: git.Repo, url: str, remote_head: bool) -> None:
    """Fetch branches and tags with prune: only objects the mirror lacks are transferred."""
    refspecs = [*REFSPECS, f"+HEAD:{REMOTE_HEAD}"] if remote_head else list(REFSPECS)
    try:
        repo.git.fetch("--prune", "--quiet", REMOTE, *refspecs)
    except git.GitCommandError as error:
        raise SourceFailed(f"fetching {redact(url)} failed: {git_message(error)}") from None


def resolve(repo: git.Repo, url: str, ref: str | None) -> Commit:
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


def _commit_of(repo: git.Repo, name: str) -> str | None:
    try:
        return str(repo.git.rev_parse("--verify", "--quiet", f"{name}^{{commit}}"))
    except git.GitCommandError:
        return None


def has_commit(repo: git.Repo, sha: str) -> bool:
    return _commit_of(repo, sha) is not None


def fetch_sha(repo: git.Repo, sha: str) -> bool:
    """A commit no branch or tag points at any more: servers speaking protocol v2 give it."""
    try:
        repo.git.fetch("--quiet", REMOTE, sha)
    except git.GitCommandError:
        return False
    return True


def _branch_at(repo: git.Repo, sha: str) -> str | None:
    names = str(
        repo.git.for_each_ref("--points-at", sha, "--format=%(refname:short)", "refs/heads")
    ).split()
    return names[0] if len(names) == 1 else None


def _describe(repo: git.Repo, sha: str, ref: str) -> Commit:
    commit = repo.commit(sha)
    summary = commit.summary
    subject = summary.decode(errors="replace") if isinstance(summary, bytes) else summary
    when = commit.committed_datetime.astimezone(UTC)
    return Commit(
        sha=sha,
        ref=ref,
        subject=subject,
        author=f"{commit.author.name} <{commit.author.email}>",
        committed_at=when.isoformat().replace("+00:00", "Z"),
    )


def archive_into(repo: git.Repo, sha: str, dest: Path) -> int:
    """`git archive` of the commit (export-ignore honoured) streamed into `dest`."""
    process = repo.git.archive("--format=tar", sha, as_process=True)
    try:
        files = extract_stream(process.stdout, dest)
    except BaseException:
        process.proc.kill()  # stop git writing into a pipe nobody reads
        process.proc.wait()
        raise
    try:
        process.wait()
    except git.GitCommandError as error:
        raise SourceFailed(f"git archive {sha[:12]} failed: {git_message(error)}") from None
    return files


def commits_between(path: Path, old: str, new: str, limit: int = 50) -> tuple[list[str], list[str]]:
    """(commits in `new` not in `old`, commits in `old` not in `new`), each `<short sha>
    <subject>`, newest first, at most `limit` each; read from the mirror at `path` without
    changing it. SourceFailed when the mirror or a commit is missing."""
    for sha in (old, new):
        if not looks_like_sha(sha):
            raise SourceFailed(f"{sha!r:.50} is not a commit id")
    try:
        repo = git.Repo(path)
        repo.git.update_environment(**git_env())
        logs = [
            repo.git.log("--format=%h %s", f"--max-count={limit}", f"{a}..{b}", "--")
            for a, b in ((old, new), (new, old))
        ]
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise SourceFailed(f"no git mirror at {path}") from None
    except git.GitCommandError as error:
        raise SourceFailed(git_message(error)) from None
    return logs[0].splitlines(), logs[1].splitlines()
